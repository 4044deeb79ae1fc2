"""The live engine's timing: what users give in seconds, resolved once into samples (LiveTiming),
which the engine, the inference processes, the bench, the evaluation and the app all read.

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

from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE
from dannasep.engine.dsp.stft_grid import nearest_stft_multiple, stft_multiple_covering
from dannasep.engine.errors import PresetError
from dannasep.engine.fusion.presets import preset_path, read_preset_toml

LIVE_TABLE_KEYS = ("hop", "crossfade", "safety", "lookahead", "context", "processes")
DEFAULT_HOP_SECONDS = 1.0
DEFAULT_HOP = nearest_stft_multiple(DEFAULT_HOP_SECONDS)


def default_crossfade(hop: int) -> int:
    """Cross-fade between hops: 4 STFT hops, but at most half a hop (on the STFT grid)."""
    return min(4 * HOP_LENGTH, hop // 2 // HOP_LENGTH * HOP_LENGTH)


@dataclass(frozen=True)
class ModelWindow:
    """One network's live window around each hop, in samples (multiples of the STFT hop)."""

    context: int
    """Past audio before the hop."""
    lookahead: int
    """Future audio after the hop: what the network adds to the latency."""


@dataclass(frozen=True)
class LiveTiming:
    """The live engine's timing in samples.

    hop: audio per inference step; crossfade: between consecutive hops (both multiples of the STFT
    hop, 0 <= crossfade <= hop; None: `default_crossfade`); safety: margin for the inference
    process's compute time (None: one hop); lookahead / context: future / past audio per model
    window (None: each checkpoint's own). After construction crossfade and safety are numbers."""

    hop: int = DEFAULT_HOP
    crossfade: int | None = None
    safety: int | None = None
    lookahead: int | None = None
    context: int | None = None

    def __post_init__(self):
        if self.crossfade is None:
            object.__setattr__(self, "crossfade", default_crossfade(self.hop))
        if self.safety is None:
            object.__setattr__(self, "safety", self.hop)
        if self.hop <= 0 or self.hop % HOP_LENGTH or self.crossfade % HOP_LENGTH or not 0 <= self.crossfade <= self.hop:
            raise ValueError(
                f"hop ({self.hop}) and crossfade ({self.crossfade}) must be multiples of {HOP_LENGTH}, "
                "with 0 <= crossfade <= hop"
            )
        if self.safety < 0:
            raise ValueError(f"safety must be >= 0 samples, got {self.safety}")

    @classmethod
    def from_seconds(
        cls,
        hop: float = DEFAULT_HOP_SECONDS,
        crossfade: float | None = None,
        safety: float | None = None,
        lookahead: float | None = None,
        context: float | None = None,
    ) -> "LiveTiming":
        """From seconds; None: a cross-fade of `default_crossfade`, one hop of safety, each
        checkpoint's own look-ahead and context."""
        return cls(
            hop=nearest_stft_multiple(hop),
            crossfade=None if crossfade is None else nearest_stft_multiple(crossfade, 0),
            safety=None if safety is None else round(safety * SAMPLE_RATE),
            lookahead=None if lookahead is None else round(lookahead * SAMPLE_RATE),
            context=None if context is None else round(context * SAMPLE_RATE),
        )

    def window(self, model) -> ModelWindow:
        """A network's window: the look-ahead asked for, but at least the cross-fade plus what the
        network needs at a window edge; the context asked for, raised where the window would be
        shorter than the network accepts (the U-Net's poolings). `model` is a SeparationNet."""
        traits, edge = model.traits, model.min_lookahead_samples()
        if self.lookahead is None:
            lookahead = traits.stream_lookahead_samples
        else:
            lookahead = stft_multiple_covering(max(self.lookahead, self.crossfade + edge))
        if lookahead < self.crossfade + edge:
            raise ValueError(
                f"{traits.architecture}: look-ahead {lookahead} is shorter than the cross-fade {self.crossfade} "
                f"plus the {edge} samples the network needs at a window edge"
            )
        context = traits.stream_context_samples if self.context is None else stft_multiple_covering(self.context)
        missing = model.min_input_length() - (context + self.hop + lookahead)
        if missing > 0:
            context = stft_multiple_covering(context + missing)
        return ModelWindow(context, lookahead)


def preset_live_table(preset: str | Path) -> dict[str, float]:
    """The preset's validated [live] table ({} when it has none)."""
    path = preset_path(preset)
    table = read_preset_toml(path).get("live", {})
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
    """What the user asked for, in seconds; None falls back to the preset's [live] table, then to
    LiveTiming's defaults and one inference process."""

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

        timing = LiveTiming.from_seconds(
            pick(self.hop_seconds, "hop", DEFAULT_HOP_SECONDS),
            pick(self.crossfade_seconds, "crossfade", None),
            pick(self.safety_seconds, "safety", None),
            pick(self.lookahead_seconds, "lookahead", None),
            pick(self.context_seconds, "context", None),
        )
        return timing, int(pick(self.processes, "processes", 1))
