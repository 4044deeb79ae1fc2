"""`dannasep ship`: turn a training run's best weights into shipped weights.

Copies each checkpoint into the shipped folder with float16 parameters (half the size; buffers stay
float32, loading casts back), keeps the sidecar's training record, and adds the test-set scores
that `dannasep eval` wrote (median SDR per source of the row ``model:<architecture>``), one set of
keys per labelled CSV (``LABEL_drums`` ... ``LABEL_mean``, ``LABEL_metric``; label "test" by
default). Run it again on already-shipped weights to attach new scores: the weights are left
untouched.
"""

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import torch

from dannasep.engine.constants import SOURCES
from dannasep.engine.errors import DannaSepError
from dannasep.engine.models.checkpoint import load_checkpoint, save_checkpoint
from dannasep.engine.weights.sidecars import read_sidecar, sidecar_path

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "presets" / "weights"
PRECISIONS = {"fp16": torch.float16, "fp32": torch.float32}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ship",
        help="copy a run's best weights into presets/weights (float16) with their test scores",
        description=__doc__.split("\n\n", 1)[1],
        epilog=(
            "example:\n"
            "  dannasep eval --data data/synth --weights runs/best-of-all --out eval\n"
            "  dannasep ship runs/*/best/*.safetensors --test-scores eval/scores.csv"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoints", type=Path, nargs="+", help="weights files (.safetensors with sidecars)")
    parser.add_argument("--to", type=Path, default=SHIPPED_DIR, help="folder (default: presets/weights)")
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="fp16", help="parameter storage")
    parser.add_argument(
        "--test-scores",
        action="append",
        metavar="[LABEL=]CSV",
        help="scores.csv written by 'dannasep eval', under LABEL (default 'test'); repeatable",
    )
    parser.add_argument(
        "--data", metavar="TEXT", help="name the training data set in the sidecar (instead of the run's record)"
    )
    parser.set_defaults(handler=run)


def parse_labelled(entry: str) -> tuple[str, Path]:
    """'LABEL=CSV' or 'CSV' (label 'test')."""
    label, sep, path = entry.partition("=")
    return (label, Path(path)) if sep and label.isidentifier() else ("test", Path(entry))


def test_scores(csv_path: Path, architecture: str, label: str = "test") -> dict:
    """Median over tracks of the per-source SDR of ``model:<architecture>`` in an eval CSV."""
    system = f"model:{architecture}"
    per_source: dict[str, list[float]] = {s: [] for s in SOURCES}
    column = None
    with csv_path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["system"] != system:
                continue
            column = column or ("bsseval_sdr_db" if row["bsseval_sdr_db"] else "global_sdr_db")
            per_source[row["source"]].append(float(row[column]))
    if column is None:
        raise DannaSepError(f"{csv_path} has no rows for {system}; evaluate that model first")
    medians = {f"{label}_{s}": round(float(np.median(v)), 3) for s, v in per_source.items()}
    tracks = len(per_source[SOURCES[0]])
    medians[f"{label}_mean"] = round(float(np.mean(list(medians.values()))), 3)
    kind = "BSSEval v4 SDR, median of 1-s frames" if column == "bsseval_sdr_db" else "global SDR"
    medians[f"{label}_metric"] = f"{kind}, median over {tracks} tracks of {csv_path.parent.name}/{csv_path.name}, dB"
    return medians


def ship(
    checkpoint: Path,
    to: Path,
    precision: str,
    scores_csv: Path | list[tuple[str, Path]] | None,
    data: str | None = None,
) -> Path:
    """Copy `checkpoint` into `to`; `scores_csv`: one CSV (label "test") or (label, CSV) pairs."""
    sidecar = read_sidecar(checkpoint)
    scores = dict(sidecar.get("scores", {}))
    labelled = [("test", scores_csv)] if isinstance(scores_csv, Path) else list(scores_csv or [])
    for label, csv_path in labelled:
        scores.update(test_scores(csv_path, sidecar["architecture"], label))
    if data is not None:
        sidecar["training"] = {**sidecar.get("training", {}), "data": data}
    to.mkdir(parents=True, exist_ok=True)
    if checkpoint.resolve().parent == to.resolve():
        sidecar["scores"] = scores
        sidecar_path(checkpoint).write_text(json.dumps(sidecar, indent=2) + "\n")
        return checkpoint
    model = load_checkpoint(checkpoint)
    training = dict(sidecar.get("training", {}))
    training["shipped_from"] = checkpoint.name
    return save_checkpoint(model, to, training, scores, name=checkpoint.stem, parameter_dtype=PRECISIONS[precision])


def run(args: argparse.Namespace) -> int:
    for checkpoint in args.checkpoints:
        labelled = [parse_labelled(entry) for entry in args.test_scores or []]
        path = ship(checkpoint, args.to, args.precision, labelled, args.data)
        print(f"{path}  {path.stat().st_size / 1e6:.1f} MB  scores: {read_sidecar(path)['scores']}")
    total = sum(p.stat().st_size for p in args.to.glob("*.safetensors")) / 1e6
    print(f"{args.to}: {total:.1f} MB of weights in all")
    return 0
