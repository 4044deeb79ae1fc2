"""The run's CSV log and loss-curve PNG, rewritten after every epoch."""

import csv
from pathlib import Path

from dannasep.engine.constants import SOURCES

COLUMNS = [
    "epoch",
    "steps",
    "train_loss",
    "train_loss_f",
    "train_loss_t",
    "valid_loss",
    "valid_sdr",
    *[f"valid_sdr_{s}" for s in SOURCES],
    "learning_rate",
    "seconds",
]


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in COLUMNS})


def plot_curves(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # optimiser steps, not epochs, on the x axis: runs with other epoch sizes compare directly
    steps = [r["steps"] for r in rows]
    fig, (ax_loss, ax_sdr) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(steps, [r["train_loss"] for r in rows], label="train")
    ax_loss.plot(steps, [r["valid_loss"] for r in rows], label="validation")
    ax_loss.set(xlabel="optimiser steps", ylabel="loss", title="loss")
    ax_loss.legend()
    for source in SOURCES:
        ax_sdr.plot(steps, [r[f"valid_sdr_{source}"] for r in rows], label=source)
    ax_sdr.plot(steps, [r["valid_sdr"] for r in rows], "k--", label="mean")
    ax_sdr.set(xlabel="optimiser steps", ylabel="SDR (dB)", title="validation SDR")
    ax_sdr.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def plot_validation_curves(logs: dict[str, list[dict]], path: Path, title: str) -> None:
    """Mean validation SDR against optimiser steps, one line per run (log x axis: each doubling
    of the steps is the same width, so how far more training would go shows as a slope)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, rows in logs.items():
        ax.plot([r["steps"] for r in rows], [r["valid_sdr"] for r in rows], "o-", label=name)
    ax.set_xscale("log")
    ax.set(xlabel="optimiser steps (log scale)", ylabel="validation SDR, mean over sources (dB)", title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 3:
        sys.exit("usage: python -m dannasep.training.trainer.logs OUT.png NAME=RUN_DIR/log.csv ...")
    runs = dict(entry.split("=", 1) for entry in sys.argv[2:])
    plot_validation_curves({k: read_csv(Path(v)) for k, v in runs.items()}, Path(sys.argv[1]), "learning curves")
