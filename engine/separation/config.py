"""What an offline separation runs, in a module without torch: the render-ahead audio process
describes its render with it and must stay light."""

from dataclasses import dataclass
from pathlib import Path

from dannasep.engine.constants import SOURCES

MODEL_SIZES = ("live", "paper")
"""The network configs each architecture has (`dannasep models`)."""


@dataclass(frozen=True)
class SeparatorConfig:
    """What to run. `stems` limits the output (and skips models no kept stem needs)."""

    preset: str | Path = "paper"
    weights_dir: Path | None = None
    size: str | None = None
    wiener_iterations: int = 1
    precision: str = "auto"
    stems: tuple[str, ...] = SOURCES
    allow_untrained: bool = True
    channel_policy: str = "downmix"
    threads: int | None = None  # torch CPU threads for this process; None leaves the current setting
