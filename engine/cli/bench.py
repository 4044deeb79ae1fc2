"""`dannasep bench offline`: measured speed and memory, printed as a Markdown table."""

import argparse
from pathlib import Path

from dannasep.engine.cli.common import set_threads


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure real-time factor and peak memory (prints a Markdown table)",
        description="Benchmarks on this machine. 'offline': real-time factor of every model (paper and "
        "live configs) and fused preset through the full separation pipeline, and peak "
        "RAM of a subprocess separating 1- and 10-minute files from disk.",
    )
    kinds = parser.add_subparsers(title="benchmarks", metavar="KIND")
    offline = kinds.add_parser(
        "offline", help="offline separation speed and memory", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    offline.add_argument("--seconds", type=float, default=30.0, help="length of the timed input")
    offline.add_argument("--runs", type=int, default=3, help="timed runs per case (median reported)")
    offline.add_argument("--sizes", nargs="+", default=["paper", "live"], help="model sizes to time")
    offline.add_argument("--presets", nargs="+", default=["paper", "fast"], help="fusion presets to time")
    offline.add_argument(
        "--ram-minutes",
        nargs="*",
        type=int,
        default=[1, 10],
        help="input lengths (minutes) for the peak-RAM runs; none to skip",
    )
    offline.add_argument("--ram-presets", nargs="*", default=["paper"], help="presets measured for RAM")
    offline.add_argument("--threads", type=int, default=2, help="CPU threads")
    offline.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    offline.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    offline.set_defaults(handler=run_offline)
    parser.set_defaults(handler=lambda _a: parser.print_help() or 0)


def run_offline(args) -> int:
    from dannasep.engine.bench.offline import run_offline_bench

    threads = set_threads(args.threads)
    table = run_offline_bench(
        args.seconds,
        args.runs,
        tuple(args.sizes),
        tuple(args.presets),
        tuple(args.ram_minutes),
        tuple(args.ram_presets),
        threads,
        args.precision,
    )
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0
