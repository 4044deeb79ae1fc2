"""The engine's controllable state as immutable values.

Strips: the four stems (SOURCES order) and the dry mix. Gains are in dB, -inf meaning silence.
Fusion weights are kept as the user set them ("raw") and used normalised per source
(engine.fusion.weights).
"""

import math
from dataclasses import dataclass, field, replace

from dannasep.engine.constants import SOURCES
from dannasep.engine.fusion.weights import normalise_weights

STRIPS: tuple[str, ...] = (*SOURCES, "dry")
MIN_GAIN_DB = -96.0  # at or below: silence
MAX_GAIN_DB = 12.0
MONITOR_MODES = ("split", "original")


@dataclass(frozen=True)
class StripState:
    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False


@dataclass(frozen=True)
class TransportState:
    playing: bool = True
    loop: tuple[float, float] | None = None
    """(start, end) in seconds, or None."""
    seek_id: int = 0
    seek_to: float = 0.0
    """The latest seek request: the player jumps when seek_id changes."""


@dataclass(frozen=True)
class EngineState:
    strips: tuple[StripState, ...] = tuple(StripState() for _ in STRIPS)
    monitor: str = "split"
    """What the stereo output plays: the sum of the stems ("split") or the dry mix ("original")."""
    weights: tuple[tuple[str, tuple[float, ...]], ...] = ()
    """Raw fusion weights: ((model, (w_drums, w_bass, w_other, w_vocals)), ...)."""
    preset: str = ""
    transport: TransportState = field(default_factory=TransportState)

    def strip_state(self, name: str) -> StripState:
        return self.strips[STRIPS.index(name)]

    def with_strip(self, name: str, **changes) -> "EngineState":
        strips = list(self.strips)
        strips[STRIPS.index(name)] = replace(strips[STRIPS.index(name)], **changes)
        return replace(self, strips=tuple(strips))

    @property
    def any_solo(self) -> bool:
        return any(s.solo for s in self.strips[: len(SOURCES)])

    def effective_gain(self, name: str) -> float:
        """Linear gain of a strip after mute and solo (a solo on any stem silences the unsoloed
        stems; the dry strip follows its own mute only)."""
        s = self.strip_state(name)
        if s.mute or s.gain_db <= MIN_GAIN_DB:
            return 0.0
        if name in SOURCES and self.any_solo and not s.solo:
            return 0.0
        return 10.0 ** (s.gain_db / 20.0)

    def normalised_weights(self) -> dict[str, tuple[float, ...]]:
        """Per-source normalised weights of the running models."""
        return normalise_weights(dict(self.weights))


def clamp_gain_db(value: float) -> float:
    if math.isnan(value):
        raise ValueError("gain is NaN")
    if value <= MIN_GAIN_DB:
        return -math.inf
    return min(value, MAX_GAIN_DB)
