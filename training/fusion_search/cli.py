"""`dannasep fusion-search`: fusion weights chosen on the validation split, saved as a preset."""

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dannasep.engine.cli.common import set_threads
from dannasep.engine.constants import SOURCES
from dannasep.engine.errors import DannaSepError
from dannasep.engine.fusion.presets import load_preset, make_preset, preset_to_toml
from dannasep.engine.paths import fusion_presets_dir
from dannasep.engine.separation.separator import SeparatorConfig, load_model
from dannasep.training.data.musdb import DatasetError, list_tracks
from dannasep.training.evaluation.runner import per_model_estimates, read_excerpt
from dannasep.training.fusion_search.search import inner_products, score_weights, search


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fusion-search",
        help="find per-source fusion weights on the validation split and save them as a preset",
        description=(
            "Separate the validation tracks with each model once, then try every weighting on a simplex grid "
            "(step 0.05 by default) for each source, keeping the one with the best median global SDR. The "
            "result is written as a fusion preset (default presets/fusion/searched.toml) with its scores and "
            "the paper preset's scores on the same tracks for comparison."
        ),
        epilog="example:\n  dannasep fusion-search --data data/synth --step 0.05",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True, type=Path, help="MUSDB18-HQ-layout folder")
    parser.add_argument("--split", default="valid", choices=("train", "valid", "test"), help="default: valid")
    parser.add_argument("--model", action="append", help="models to fuse (repeatable; default: all three)")
    parser.add_argument("--weights", type=Path, help="checkpoint folder (default: the shipped presets/weights)")
    parser.add_argument("--size", choices=("live", "paper"), help="model config to pick (default: live)")
    parser.add_argument("--step", type=float, default=0.05, help="grid step, must divide 1 (default 0.05)")
    parser.add_argument("--compare", default="paper", help="preset to score alongside (default: paper)")
    parser.add_argument("--name", default="searched", help="preset name (default: searched)")
    parser.add_argument("--out", type=Path, help="folder for the preset (default: presets/fusion)")
    parser.add_argument("--tracks", type=int, help="use only the first N tracks")
    parser.add_argument("--seconds", type=float, help="use only the first S seconds of each track")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    models = tuple(dict.fromkeys(args.model or ("xumx", "unet", "demucs")))
    try:
        if not 0 < args.step <= 0.5:
            raise DannaSepError("--step must be in (0, 0.5]")
        tracks, problems = list_tracks(args.data, args.split)
        for problem in problems:
            print(f"skipped {problem}", file=sys.stderr)
        tracks = tracks[: args.tracks] if args.tracks else tracks
        if not tracks:
            raise DatasetError(f"{args.data}: no usable {args.split} tracks")
        compare = load_preset(args.compare)
        config = SeparatorConfig(weights_dir=args.weights, size=args.size)
        loaded = {arch: load_model(arch, config) for arch in models}
        for arch, model in loaded.items():
            print(f"{arch}: {model.provenance}")
        truths, estimates = [], []
        for track in tqdm(tracks, desc="separating", unit="track"):
            mixture, truth = read_excerpt(track, args.seconds)
            per_model = per_model_estimates(mixture, loaded)
            truths.append(truth)
            estimates.append(np.stack([per_model[arch] for arch in models]))
        products = inner_products(truths, estimates)
        result = search(products, models, args.step)
    except (DannaSepError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    compare_weights = np.array([[compare.weight(arch, s) for s in SOURCES] for arch in models])
    compare_scores = score_weights(products, compare_weights) if set(compare.models) <= set(models) else None
    lines = [f"{'':10s}" + "".join(f"{s:>9s}" for s in SOURCES)]
    lines.append(f"{args.name:10s}" + "".join(f"{v:9.2f}" for v in result.scores))
    if compare_scores is not None:
        lines.append(f"{compare.name:10s}" + "".join(f"{v:9.2f}" for v in compare_scores))
    comment = (
        f"Found by 'dannasep fusion-search' (simplex step {args.step}) on {len(tracks)} {args.split} tracks of "
        f"{args.data.name}.\nMedian global SDR (dB) on those tracks:\n" + "\n".join(lines)
    )
    preset = make_preset(args.name, result.as_raw(), f"searched on {args.data.name}/{args.split}")
    folder = args.out or fusion_presets_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{args.name}.toml"
    path.write_text(preset_to_toml(preset, comment))
    print("\n".join(lines))
    print(f"wrote {path}")
    return 0
