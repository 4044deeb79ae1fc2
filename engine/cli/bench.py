"""`dannasep bench offline|live`: measured speed, latency and memory, printed as Markdown tables."""

import argparse
from pathlib import Path

from dannasep.engine.cli.common import set_threads


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure real-time factor and peak memory (prints a Markdown table)",
        description="Benchmarks on this machine. 'offline': real-time factor of every model (paper and "
        "live configs) and fused preset through the full separation pipeline, and peak "
        "RAM of a subprocess separating 1- and 10-minute files from disk. 'live': the streaming "
        "engine through a JACK dummy server per preset and block size: worker real-time factor, "
        "latency, callback duration, under-runs, CPU and RAM.",
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
    live = kinds.add_parser(
        "live",
        help="live engine speed, latency and under-runs through JACK",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    live.add_argument("--seconds", type=float, default=60.0, help="seconds played per case")
    live.add_argument("--presets", nargs="+", default=["paper", "fast"], help="fusion presets (names or .toml)")
    live.add_argument("--blocksizes", nargs="+", type=int, default=[256, 512], help="audio block sizes")
    live.add_argument("--hop", type=float, default=1.0, help="seconds of audio per inference step")
    live.add_argument(
        "--lookahead",
        type=float,
        help="seconds of future audio per model; unset keeps each checkpoint's own (0.5 s)",
    )
    live.add_argument(
        "--context", type=float, help="seconds of past audio per model window; unset keeps each checkpoint's own (1 s)"
    )
    live.add_argument("--file", type=Path, help="play this file (default: generated noise)")
    live.add_argument("--weights", type=Path, metavar="DIR", help="checkpoint folder (default: shipped weights)")
    live.add_argument("--threads", type=int, default=2, help="threads of the inference process")
    live.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    live.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    live.set_defaults(handler=run_live)
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


def run_live(args) -> int:
    from dannasep.engine.bench.live import LiveBenchConfig, run_live_bench

    set_threads(1)  # the audio process needs little; the inference process has its own threads
    config = LiveBenchConfig(
        seconds=args.seconds,
        presets=tuple(args.presets),
        blocksizes=tuple(args.blocksizes),
        hop_seconds=args.hop,
        lookahead_seconds=args.lookahead,
        context_seconds=args.context,
        source=args.file,
        weights_dir=args.weights,
        precision=args.precision,
        threads=args.threads,
    )
    table = run_live_bench(config)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0
