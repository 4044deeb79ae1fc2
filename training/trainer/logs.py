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
