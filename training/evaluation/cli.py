"""`dannasep eval`: score models, fusion presets, the mixture baseline and oracles on a data set."""

import argparse
import sys
from pathlib import Path

from dannasep.engine.cli.common import add_precision_option, add_weights_options, set_threads
from dannasep.engine.errors import DannaSepError
from dannasep.engine.fusion.presets import load_preset
from dannasep.engine.weights.resolve import choose_weights
from dannasep.training.evaluation.report import markdown_table, write_report
from dannasep.training.evaluation.runner import EvalConfig, evaluate


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score every model, fusion presets, the mix/4 baseline and oracles (museval + global SDR)",
        description=(
            "Separate the tracks of a MUSDB18-HQ-layout folder with each model once, derive every fusion "
            "preset from those estimates, and score all of them with the mixture/4 baseline and the ideal "
            "ratio mask and ideal Wiener filter: museval BSSEval v4 (1-s windows, median over frames, median "
            "over tracks, as the paper) and a fast global SDR. Writes scores.md, scores.csv and scores.png."
        ),
        epilog=(
            "examples:\n"
            "  dannasep eval --data data/synth                       # shipped weights, paper+fast presets\n"
            "  dannasep eval --data data/synth --preset paper --model unet --fast --seconds 10\n"
            "  dannasep eval --data ~/MUSDB18-HQ --weights runs/weights --size paper --workers 2\n"
            "  dannasep eval --data data/ood --preset paper --fast --listening low-latency --listening live "
            "--listening paper   # SDR against latency\n"
            "BSSEval is slow (about 0.8x real time per system and track); --fast skips it."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True, type=Path, help="MUSDB18-HQ-layout folder (real or synthetic)")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"), help="default: test")
    parser.add_argument(
        "--preset", action="append", help="fusion preset name or TOML (repeatable; default: paper and fast)"
    )
    parser.add_argument("--model", action="append", help="score this model alone (repeatable; default: all three)")
    add_weights_options(parser)
    parser.add_argument("--fast", action="store_true", help="global SDR only, no BSSEval")
    parser.add_argument("--no-oracles", action="store_true", help="skip the IRM and ideal Wiener filter")
    parser.add_argument("--tracks", type=int, help="use only the first N tracks")
    parser.add_argument("--seconds", type=float, help="score only the first S seconds of each track")
    parser.add_argument("--workers", type=int, default=1, help="processes for BSSEval (default 1)")
    parser.add_argument("--threads", type=int, help="torch threads for separation (default: all cores)")
    add_precision_option(parser)
    parser.add_argument(
        "--streaming",
        action="store_true",
        help="also score every model and preset as the live engine computes them (sliding windows, "
        "causal Wiener filter): the SDR cost of listening live; about 2.5x the separation time",
    )
    parser.add_argument(
        "--listening",
        action="append",
        metavar="PRESET",
        help="also score this preset streamed as the live engine runs it (its [live] table), with its "
        "latency; writes sdr-latency.png (repeatable: e.g. low-latency, live, paper)",
    )
    parser.add_argument("--out", type=Path, default=Path("eval"), help="report folder (default ./eval)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    presets = tuple(args.preset or ("paper", "fast"))
    models = tuple(args.model or ("xumx", "unet", "demucs"))
    needed = dict.fromkeys([*models, *(m for p in presets for m in load_preset(p).models)])
    weights = choose_weights(args.weights, needed, args.size)
    print(weights.describe(), flush=True)
    config = EvalConfig(
        data=args.data,
        split=args.split,
        presets=presets,
        models=models,
        weights_dir=weights.folder,
        size=weights.size,
        museval=not args.fast,
        oracles=not args.no_oracles,
        max_tracks=args.tracks,
        seconds=args.seconds,
        workers=args.workers,
        streaming=args.streaming,
        precision=args.precision,
        listening=tuple(args.listening or ()),
    )
    try:
        scores = evaluate(config)
    except DannaSepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    paths = write_report(scores, args.out)
    print(markdown_table(scores))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
