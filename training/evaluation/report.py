"""The evaluation report: a Markdown table, a CSV (one row per system, track and source) and a
grouped bar chart of the median SDR per source."""

import csv
from pathlib import Path

import numpy as np

from dannasep.engine.constants import SOURCES
from dannasep.training.evaluation.runner import Scores


def _kind(scores: Scores) -> str:
    return "bss" if scores.bss_sdr else "global"


def markdown_table(scores: Scores) -> str:
    kind = _kind(scores)
    title = "BSSEval v4 SDR (dB), median of 1-s frames, median over tracks" if kind == "bss" else "global SDR (dB)"
    lines = [
        f"{title}; {len(scores.tracks)} tracks",
        "",
        "| system | " + " | ".join(SOURCES) + " | mean | global SDR mean |",
        "|---|" + "---:|" * (len(SOURCES) + 2),
    ]
    for system in scores.systems:
        median = scores.median(system, kind)
        global_mean = float(np.mean(scores.median(system, "global")))
        cells = " | ".join(f"{v:.2f}" for v in median)
        lines.append(f"| {system} | {cells} | {np.nanmean(median):.2f} | {global_mean:.2f} |")
    untrained = [f"- {s}: {n}" for s, n in scores.notes.items() if "UNTRAINED" in n]
    if untrained:
        lines += ["", "Untrained (random weights):", *untrained]
    return "\n".join(lines) + "\n"


def write_csv(scores: Scores, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["system", "track", "source", "global_sdr_db", "bsseval_sdr_db"])
        for system in scores.systems:
            for index, track in enumerate(scores.tracks):
                bss = scores.bss_sdr.get(system)
                for s, source in enumerate(SOURCES):
                    bss_value = f"{bss[index][s]:.4f}" if bss else ""
                    writer.writerow([system, track, source, f"{scores.global_sdr[system][index][s]:.4f}", bss_value])


def write_chart(scores: Scores, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind = _kind(scores)
    systems = scores.systems
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(SOURCES) + 0.4 * len(systems)), 4.5))
    for i, system in enumerate(systems):
        x = np.arange(len(SOURCES)) + (i - (len(systems) - 1) / 2) * width
        ax.bar(x, scores.median(system, kind), width, label=system)
    ax.set_xticks(np.arange(len(SOURCES)), SOURCES)
    ax.set_ylabel("SDR (dB)")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_title(f"{'BSSEval v4' if kind == 'bss' else 'global'} SDR, median over {len(scores.tracks)} tracks")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(scores: Scores, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "scores.md", "csv": out / "scores.csv", "chart": out / "scores.png"}
    paths["markdown"].write_text(markdown_table(scores))
    write_csv(scores, paths["csv"])
    write_chart(scores, paths["chart"])
    return paths
