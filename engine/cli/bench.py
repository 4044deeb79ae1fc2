"""`dannasep bench offline|live|peers|agreement`: measured speed, latency, memory and agreement, printed as
Markdown tables."""

import argparse
from pathlib import Path

from dannasep.engine.bench import PEER_CASES as CASES
from dannasep.engine.cli.common import (
    add_live_timing_options,
    add_precision_option,
    add_runtime_option,
    live_options,
    set_threads,
)
from dannasep.engine.fusion.presets import load_preset
from dannasep.engine.renderahead.settings import RenderAheadSettings
from dannasep.engine.separation.config import MODEL_SIZES
from dannasep.engine.weights.resolve import choose_weights


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure real-time factor and peak memory (prints a Markdown table)",
        description="Benchmarks on this machine. 'offline': real-time factor of every model (paper and "
        "live configs) and fused preset through the full separation pipeline, and peak "
        "RAM of a subprocess separating 1- and 10-minute files from disk. 'live': the streaming "
        "engine through a JACK dummy server per preset and block size: worker real-time factor, "
        "latency, callback duration, under-runs, CPU and RAM. 'peers': our engine against demucs 2.0.3, "
        "asteroid's X-UMX and the Danna-Sep authors' recipe with identical weights.",
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
        help="lengths (minutes) of the file-to-file runs (peak RAM and long-song RTF); none to skip",
    )
    offline.add_argument("--ram-presets", nargs="*", default=["paper"], help="presets given file-to-file runs")
    offline.add_argument("--threads", type=int, default=2, help="CPU threads")
    add_precision_option(offline)
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
    add_live_timing_options(live)
    live.add_argument("--file", type=Path, help="play this file (default: generated noise)")
    live.add_argument(
        "--weights",
        metavar="NAME-or-DIR",
        help="'shipped', an installed weights set or a checkpoint folder (default: the shipped live-size weights, "
        "as the live stream keeps live-size networks)",
    )
    live.add_argument("--threads", type=int, default=2, help="inference threads, shared by the processes")
    add_precision_option(live)
    add_runtime_option(live, several=True)
    live.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    add_render_options(live)
    live.set_defaults(handler=run_live)
    add_peers_parser(kinds)
    add_agreement_parser(kinds)
    parser.set_defaults(handler=lambda _a: parser.print_help() or 0)


def add_render_options(live) -> None:
    defaults = RenderAheadSettings()
    live.add_argument(
        "--modes",
        nargs="+",
        choices=("stream", "render"),
        default=["stream", "render"],
        help="stream: the streaming cases (--presets x --blocksizes, playing --file or noise); render: the "
        "render-ahead cases (--render-presets x --render-sizes x --render-files)",
    )
    group = live.add_argument_group(
        "render-ahead cases",
        "Each plays a generated noise file for --seconds (looping) with --seeks random seeks. Targets on 2 "
        "cores: no engine under-run, no model dropped, first sound and seek <= 1 s.",
    )
    group.add_argument("--render-presets", nargs="+", default=["paper"], help="fusion presets (names or .toml)")
    group.add_argument(
        "--render-sizes",
        nargs="+",
        choices=MODEL_SIZES,
        default=["live", "paper"],
        help="network sizes; where the weights folder has no checkpoint of a size, seeded random networks "
        "(the time does not depend on their values)",
    )
    group.add_argument(
        "--render-files", nargs="*", type=float, default=[60.0, 600.0], help="lengths (s) of the files played"
    )
    group.add_argument("--render-block", type=int, default=256, help="audio block size")
    group.add_argument("--seeks", type=int, default=10, help="random seeks per case")
    group.add_argument("--lead", type=float, default=defaults.lead, help="seconds rendered ahead")
    group.add_argument("--cache-mb", type=float, default=defaults.cache_mb, help="cap on the stem cache (MB)")
    group.add_argument(
        "--compare-offline",
        action="store_true",
        help="also measure the peak RAM of `dannasep separate`'s path on each file (the target: render-ahead "
        "together at most 500 MB above it); a 10-minute file takes minutes more per case",
    )


def add_peers_parser(kinds) -> None:
    peers = kinds.add_parser(
        "peers",
        help="our engine vs demucs 2.0.3, asteroid X-UMX and the authors' recipe, identical weights",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""Side by side on the same input, with the same seeded random weights on both sides, so
that only the inference recipe differs. Cases:

  demucs_v2  our Demucs v2 through our chunked pipeline
             vs demucs 2.0.3's own apply_model(split=True, shifts=0)
  xumx       our X-UMX through our pipeline (chunks with context, torch Wiener filter)
             vs asteroid's X-UMX recipe (whole track, norbert Wiener filter in complex128, scipy iSTFT)
  fusion     the paper preset (U-Net + Demucs + X-UMX) through our pipeline
             vs the authors' danna_sep recipe rebuilt around our models (whole track per model,
             U-Net in 2584-frame chunks, Demucs after a 0.5 s zero prefix, numpy Wiener filter in
             complex128, waveform fusion with the paper weights)

Each side runs in its own process. Printed per case: seconds and peak RAM of each side on the
--seconds input (speed ratio = peer / ours), the difference of the two networks on the same
excerpt (max relative), and of the two outputs (max abs, and the SDR of ours against the peer).
Then peak RAM separating a --ram-minutes file to stem files (a side that outgrows
--memory-limit-gb stops there, and its peak so far is shown as a lower bound).

Targets (issue 7): at least as fast as every peer (speed ratio >= 1), and at most half the peak
RAM of the authors' whole-track recipe on a 5-minute song (RAM ratio >= 2). The networks agree to
1e-4; the outputs differ where the recipes do (see README, "Against the peers").

The defaults take about half an hour on 2 cores; a quick look:
  dannasep bench peers --size live --seconds 10 --ram-minutes 0""",
    )
    peers.add_argument("--seconds", type=float, default=60.0, help="length of the timed input (default: 60)")
    peers.add_argument(
        "--ram-minutes",
        type=float,
        default=5.0,
        help="length of the file for the peak-RAM runs; 0 skips them (default: 5)",
    )
    peers.add_argument(
        "--cases",
        nargs="*",
        default=list(CASES),
        choices=CASES,
        help="cases to time; none for RAM runs only (default: all)",
    )
    peers.add_argument(
        "--ram-cases", nargs="*", default=["fusion"], choices=CASES, help="cases for the RAM runs (default: fusion)"
    )
    peers.add_argument(
        "--size",
        choices=MODEL_SIZES,
        default="paper",
        help="model configs: paper (the peers' released sizes) or live (quick; Demucs v2 then takes the "
        "live Demucs' width and depth) (default: paper)",
    )
    peers.add_argument("--runs", type=int, default=1, help="timed runs per side, median reported (default: 1)")
    peers.add_argument("--threads", type=int, default=2, help="CPU threads of every process (default: 2)")
    peers.add_argument(
        "--memory-limit-gb",
        type=float,
        help="address-space cap of every process: a side that needs more stops with 'out of memory' and its "
        "peak so far, a lower bound, instead of waking the OOM killer (default: 3/4 of this machine's RAM)",
    )
    peers.add_argument("--out", type=Path, help="also write the report to this Markdown file")
    peers.set_defaults(handler=run_peers)


def run_offline(args) -> int:
    from dannasep.engine.bench.offline import run_offline_bench

    threads = set_threads(args.threads)
    # timing does not depend on the values of the weights, and the same seeded ones make runs comparable
    print("weights: seeded random weights at each size (the time does not depend on their values)", flush=True)
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
    from dannasep.engine.bench.render_ahead import RenderBenchConfig

    # no torch here: the audio process of the render-ahead cases is this one, measured as `dannasep live`'s
    presets = [*args.presets, *args.render_presets]
    models = dict.fromkeys(m for preset in presets for m in load_preset(preset).models)
    weights = choose_weights(args.weights, models, streaming=True)
    print(weights.describe(), flush=True)
    render = None
    if "render" in args.modes and args.render_files:
        if args.lead <= 0 or args.cache_mb <= 0 or args.seeks < 0 or args.render_block <= 0:
            raise SystemExit("dannasep bench live: --lead, --cache-mb and --render-block must be positive")
        render = RenderBenchConfig(
            seconds=args.seconds,
            presets=tuple(args.render_presets),
            sizes=tuple(args.render_sizes),
            files=tuple(args.render_files),
            blocksize=args.render_block,
            seeks=args.seeks,
            render=RenderAheadSettings(lead=args.lead, cache_mb=args.cache_mb),
            weights_dir=weights.folder,
            precision=args.precision,
            threads=args.threads,
            compare_offline=args.compare_offline,
        )
    config = LiveBenchConfig(
        seconds=args.seconds,
        presets=tuple(args.presets) if "stream" in args.modes else (),
        blocksizes=tuple(args.blocksizes),
        options=live_options(args),
        source=args.file,
        weights_dir=weights.folder,
        precision=args.precision,
        runtimes=tuple(args.runtimes),
        threads=args.threads,
    )
    table = run_live_bench(config, render)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0


def run_peers(args) -> int:
    from dannasep.engine.bench.peers import PeersBenchConfig, run_peers_bench

    config = PeersBenchConfig(
        seconds=args.seconds,
        ram_minutes=args.ram_minutes,
        cases=tuple(args.cases),
        ram_cases=tuple(args.ram_cases),
        size=args.size,
        runs=args.runs,
        threads=args.threads,
        memory_limit_gb=args.memory_limit_gb,
    )
    report = run_peers_bench(config)
    print(report)
    if args.out:
        args.out.write_text(report + "\n")
    return 0


def add_agreement_parser(kinds) -> None:
    agreement = kinds.add_parser(
        "agreement",
        help="does render-ahead playback play what `dannasep separate` writes? (SDR, plan and quick parts)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Plays SONG once through render-ahead playback (JACK dummy server, recorded), switches the "
        "fusion weights to a second preset halfway, then runs `dannasep separate` with each preset and prints "
        "the SDR of what played against the offline stems, for the parts the offline plan rendered and the "
        "parts quick chunks rendered. Expect > 60 dB for the plan.",
    )
    agreement.add_argument("song", type=Path, help="the song (played whole)")
    agreement.add_argument("--preset", default="paper", help="fusion preset at the start")
    agreement.add_argument("--switch-to", default="searched", help="fusion preset switched to mid-song")
    agreement.add_argument("--switch-at", type=float, help="seconds into the song (default: the middle)")
    agreement.add_argument(
        "--weights", metavar="NAME-or-DIR", help="as for `dannasep live` (default: the shipped live-size weights)"
    )
    agreement.add_argument("--size", choices=MODEL_SIZES, help="network size (default: as `dannasep live` chooses)")
    agreement.add_argument("--threads", type=int, default=2, help="render and separation threads")
    add_precision_option(agreement)
    agreement.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    agreement.set_defaults(handler=run_agreement_bench)


def run_agreement_bench(args) -> int:
    from dannasep.engine.bench.offline import machine_description
    from dannasep.engine.bench.render_agreement import AgreementConfig, format_agreement, run_agreement

    models = dict.fromkeys(m for p in (args.preset, args.switch_to) for m in load_preset(p).models)
    weights = choose_weights(args.weights, models, args.size, streaming=True)
    print(weights.describe(), flush=True)
    config = AgreementConfig(
        song=args.song,
        preset=args.preset,
        switch_to=args.switch_to,
        switch_at=args.switch_at,
        weights_dir=weights.folder,
        size=weights.size,
        precision=args.precision,
        threads=args.threads,
    )
    table = format_agreement(run_agreement(config), config, machine_description())
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0
