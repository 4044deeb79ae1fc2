"""The live engine's timing knobs in seconds, as users give them, and what they become in samples.

Latency = hop + the largest model look-ahead + safety. The hop, cross-fade and look-ahead move on
the STFT grid (1024 samples) so that successive windows' frames line up; the safety margin, which
only covers the inference process's compute time, is any number of samples.

A fusion preset may say how the live engine should run it, in an optional table (seconds):

    [live]
    hop = 0.1625
    crossfade = 0.0232
    lookahead = 0
    context = 0.25
    safety = 0.133
    processes = 2

Options given on the command line win over the table, the table over the defaults. The table
applies when the engine starts; switching presets while playing changes only the weights.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import tomllib

from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE
from dannasep.engine.errors import PresetError
from dannasep.engine.separation.fusion import load_preset

LIVE_TABLE_KEYS = ("hop", "crossfade", "safety", "lookahead", "context", "processes")


def on_stft_grid(seconds: float, minimum: int = 1) -> int:
    """Seconds to the nearest whole number of STFT hops (at least `minimum`), in samples."""
    return max(minimum, round(seconds * SAMPLE_RATE / HOP_LENGTH)) * HOP_LENGTH


def default_crossfade(hop: int) -> int:
    """Cross-fade between hops: ~93 ms, but at most half a hop (on the STFT grid)."""
    return min(4 * HOP_LENGTH, hop // 2 // HOP_LENGTH * HOP_LENGTH)


@dataclass(frozen=True)
class LiveTiming:
    """hop: audio per inference step; crossfade: between consecutive hops (None: ~93 ms, at most
    half the hop); safety: margin for the inference process's compute time (None: one hop);
    lookahead / context: future / past audio per model window (None: each checkpoint's own)."""

    hop_seconds: float = 1.0
    crossfade_seconds: float | None = None
    safety_seconds: float | None = None
    lookahead_seconds: float | None = None
    context_seconds: float | None = None

    @property
    def hop(self) -> int:
        return on_stft_grid(self.hop_seconds)

    @property
    def crossfade(self) -> int:
        if self.crossfade_seconds is None:
            return default_crossfade(self.hop)
        return on_stft_grid(self.crossfade_seconds, minimum=0)

    @property
    def safety(self) -> int:
        return self.hop if self.safety_seconds is None else round(self.safety_seconds * SAMPLE_RATE)

    def config_fields(self) -> dict[str, object]:
        """The matching LiveConfig fields."""
        return {
            "hop": self.hop,
            "crossfade": self.crossfade,
            "safety": self.safety,
            "lookahead_seconds": self.lookahead_seconds,
            "context_seconds": self.context_seconds,
        }


def preset_live_table(preset: str | Path) -> dict[str, float]:
    """The preset's validated [live] table ({} when it has none)."""
    path = load_preset(preset).path
    table = tomllib.loads(path.read_text()).get("live", {})
    if not isinstance(table, dict):
        raise PresetError(f"{path}: [live] must be a table of {', '.join(LIVE_TABLE_KEYS)}")
    unknown = sorted(set(table) - set(LIVE_TABLE_KEYS))
    if unknown:
        raise PresetError(f"{path}: [live] has unknown keys {unknown}; use {', '.join(LIVE_TABLE_KEYS)}")
    for key, value in table.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not number or value < 0 or (key == "hop" and value == 0):
            raise PresetError(f"{path}: [live] {key} = {value!r}; give seconds >= 0 (the hop > 0)")
        if key == "processes" and (not isinstance(value, int) or value < 1):
            raise PresetError(f"{path}: [live] processes = {value!r}; give a whole number >= 1")
    return table


@dataclass(frozen=True)
class LiveOptions:
    """What the user asked for; None falls back to the preset's [live] table, then to the default
    (1 s hop, 93 ms cross-fade, one hop of safety, each checkpoint's look-ahead and context, one
    inference process)."""

    hop_seconds: float | None = None
    crossfade_seconds: float | None = None
    safety_seconds: float | None = None
    lookahead_seconds: float | None = None
    context_seconds: float | None = None
    processes: int | None = None

    def resolve(self, preset: str | Path) -> tuple[LiveTiming, int]:
        """The timing and the number of inference processes to run `preset` with."""
        table = preset_live_table(preset)

        def pick(mine, key: str, default):
            return mine if mine is not None else table.get(key, default)

        timing = LiveTiming(
            pick(self.hop_seconds, "hop", 1.0),
            pick(self.crossfade_seconds, "crossfade", None),
            pick(self.safety_seconds, "safety", None),
            pick(self.lookahead_seconds, "lookahead", None),
            pick(self.context_seconds, "context", None),
        )
        return timing, int(pick(self.processes, "processes", 1))
