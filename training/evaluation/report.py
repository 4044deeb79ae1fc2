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
    lines += latency_table(scores)
    untrained = [f"- {s}: {n}" for s, n in scores.notes.items() if "UNTRAINED" in n]
    if untrained:
        lines += ["", "Untrained (random weights):", *untrained]
    return "\n".join(lines) + "\n"


def latency_points(scores: Scores) -> list[tuple[str, float | None, float]]:
    """(way of listening, latency in seconds or None for offline, mean global SDR) for every
    listen:<preset> system and the offline preset:<preset> beside it."""
    points = []
    for system, latency in scores.latency_seconds.items():
        name = system.split(":", 1)[1]
        points.append((f"{name}, live", latency, float(np.mean(scores.median(system, "global")))))
        if f"preset:{name}" in scores.global_sdr:
            offline = float(np.mean(scores.median(f"preset:{name}", "global")))
            points.append((f"{name}, offline / render-ahead", None, offline))
    return points


def latency_table(scores: Scores) -> list[str]:
    points = latency_points(scores)
    if not points:
        return []
    lines = ["", "| way of listening | latency | global SDR mean (dB) |", "|---|---:|---:|"]
    for label, latency, sdr in sorted(points, key=lambda p: (p[1] is None, p[1] or 0.0)):
        shown = "offline" if latency is None else f"{latency * 1000:.0f} ms"
        lines.append(f"| {label} | {shown} | {sdr:.2f} |")
    return lines


def write_latency_chart(scores: Scores, path: Path) -> None:
    """SDR against latency on a log axis; offline systems stand at the right edge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    points = latency_points(scores)
    live = sorted((p for p in points if p[1] is not None), key=lambda p: p[1])
    right_edge = 4 * max((p[1] for p in live), default=1.0)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.plot([p[1] for p in live], [p[2] for p in live], "o-", color="tab:blue", label="streamed (live engine)")
    # presets with the same weights give the same offline point: one marker, their names joined
    offline: dict[float, list[str]] = {}
    for label, latency, sdr in points:
        if latency is None:
            offline.setdefault(round(sdr, 3), []).append(label.split(",")[0])
    ax.plot([right_edge] * len(offline), list(offline), "s", color="tab:green", label="offline / render-ahead")
    for label, latency, sdr in live:
        ax.annotate(label.split(",")[0], (latency, sdr), textcoords="offset points", xytext=(6, -10))
    for sdr, names in offline.items():
        ax.annotate(" / ".join(names), (right_edge, sdr), textcoords="offset points", xytext=(-8, -14), ha="right")
    ax.set_xscale("log")
    left = min((p[1] for p in live), default=right_edge / 10)
    ax.set_xlim(left / 1.5, right_edge * 1.5)
    decades = [10.0**k for k in range(-3, 3) if left / 1.5 <= 10.0**k < right_edge / 2]
    ax.set_xticks([*decades, right_edge])
    ax.set_xticklabels([*(f"{d * 1000:.0f} ms" for d in decades), "offline"])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("latency (log scale)")
    ax.set_ylabel("global SDR, mean over sources (dB)")
    ax.set_title(f"Quality against latency, median over {len(scores.tracks)} tracks")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
    if scores.latency_seconds:
        paths["latency"] = out / "sdr-latency.png"
        write_latency_chart(scores, paths["latency"])
    return paths
