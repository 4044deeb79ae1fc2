"""The one rule that turns raw fusion weights into the weights each source is summed with.

Raw weights are any numbers >= 0, one row of len(SOURCES) per model. Each source's column is
divided by its sum over the models that run; models that do not run (left out of a preset, or
dropped by a live worker that fell behind) weigh nothing. A column that sums to zero over the
running models makes that source silent: every weight of it is 0, and no other model is promoted.
"""

from collections.abc import Iterable, Mapping, Sequence

from dannasep.engine.constants import SOURCES

Weights = Mapping[str, Sequence[float]]
"""model -> one weight per source, in SOURCES order."""


def normalise_weights(raw: Weights, running: Iterable[str] | None = None) -> dict[str, tuple[float, ...]]:
    """Per-source normalised weights of every model in `raw` (None: all of them run).

    Returns model -> len(SOURCES) weights; each source's weights over the running models sum to 1,
    or are all 0 when that source's raw column over them sums to 0."""
    runs = set(raw) if running is None else set(running)
    rows = {m: tuple(float(w) for w in row) if m in runs else (0.0,) * len(SOURCES) for m, row in raw.items()}
    totals = [sum(row[i] for row in rows.values()) for i in range(len(SOURCES))]
    return {m: tuple(w / t if t > 0 else 0.0 for w, t in zip(row, totals, strict=True)) for m, row in rows.items()}


def silent_sources(raw: Weights, running: Iterable[str] | None = None) -> tuple[str, ...]:
    """The sources no running model weighs, in SOURCES order."""
    normalised = normalise_weights(raw, running)
    return tuple(s for i, s in enumerate(SOURCES) if not any(row[i] > 0 for row in normalised.values()))


def contributing_models(weights: Weights) -> list[str]:
    """Models with a positive weight for at least one source, in `weights`' order: only these run."""
    return [m for m, row in weights.items() if any(w > 0 for w in row)]
