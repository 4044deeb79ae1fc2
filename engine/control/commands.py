"""Commands the GUI, the OSC bridge and the CLI send to the engine. Each is a small frozen value;
`apply` turns a state and a command into the next state, or raises CommandError saying why."""

import math
from dataclasses import dataclass, replace

from dannasep.engine.constants import SOURCES
from dannasep.engine.control.state import MONITOR_MODES, STRIPS, EngineState, clamp_gain_db
from dannasep.engine.fusion.presets import FusionPreset, load_preset


class CommandError(ValueError):
    """A command that cannot be applied (unknown strip, bad value...); the state is unchanged."""


def strip_name(strip: str | int) -> str:
    """The one strip parser (GUI, OSC, CLI): a name in STRIPS, or a stem by 1-based index in
    SOURCES order, as a number or digits (the dry mix has no index: it is not a stem)."""
    if isinstance(strip, bool):
        raise CommandError(f"unknown strip {strip!r}")
    if isinstance(strip, str) and strip.isdigit():
        strip = int(strip)
    if isinstance(strip, int):
        if 1 <= strip <= len(SOURCES):
            return SOURCES[strip - 1]
        raise CommandError(f"stem index {strip} is out of range 1..{len(SOURCES)}")
    if strip in STRIPS:
        return strip
    raise CommandError(f"unknown strip {strip!r}; use {', '.join(STRIPS)} or 1..{len(SOURCES)}")


def _finite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CommandError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) and not (name == "gain" and value == -math.inf):
        raise CommandError(f"{name} must be finite, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class SetGain:
    strip: str | int
    db: float

    def apply(self, state: EngineState) -> EngineState:
        try:
            gain = clamp_gain_db(_finite("gain", self.db))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        return state.with_strip(strip_name(self.strip), gain_db=gain)


@dataclass(frozen=True)
class SetMute:
    strip: str | int
    on: bool

    def apply(self, state: EngineState) -> EngineState:
        return state.with_strip(strip_name(self.strip), mute=bool(self.on))


@dataclass(frozen=True)
class SetSolo:
    strip: str | int
    on: bool

    def apply(self, state: EngineState) -> EngineState:
        name = strip_name(self.strip)
        if name not in SOURCES:
            raise CommandError("only stems can be soloed")
        return state.with_strip(name, solo=bool(self.on))


@dataclass(frozen=True)
class ToggleMute:
    strip: str | int

    def apply(self, state: EngineState) -> EngineState:
        name = strip_name(self.strip)
        return state.with_strip(name, mute=not state.strip_state(name).mute)


@dataclass(frozen=True)
class ToggleSolo:
    strip: str | int

    def apply(self, state: EngineState) -> EngineState:
        name = strip_name(self.strip)
        return SetSolo(name, not state.strip_state(name).solo).apply(state)


@dataclass(frozen=True)
class SoloReset:
    def apply(self, state: EngineState) -> EngineState:
        for name in SOURCES:
            state = state.with_strip(name, solo=False)
        return state


@dataclass(frozen=True)
class SetWeight:
    """A raw fusion weight (>= 0) of `model` for `stem`; used renormalised per stem."""

    stem: str | int
    model: str
    value: float

    def apply(self, state: EngineState) -> EngineState:
        name = strip_name(self.stem)
        if name not in SOURCES:
            raise CommandError("fusion weights exist for the four stems only")
        value = _finite("weight", self.value)
        if value < 0:
            raise CommandError(f"weight must be >= 0, got {value}")
        rows = dict(state.weights)
        if self.model not in rows:
            raise CommandError(f"model {self.model!r} is not running; running: {', '.join(rows)}")
        row = list(rows[self.model])
        row[SOURCES.index(name)] = value
        rows[self.model] = tuple(row)
        edited = state.preset if state.preset.endswith(" (edited)") else f"{state.preset} (edited)"
        return replace(state, weights=tuple(rows.items()), preset=edited)


@dataclass(frozen=True)
class SetWeights:
    """All raw weights at once (a preset): {model: (4 weights)}; models not running are ignored."""

    weights: tuple[tuple[str, tuple[float, ...]], ...]
    name: str = ""

    @classmethod
    def of(cls, preset: FusionPreset) -> "SetWeights":
        return cls(tuple(preset.weights.items()), preset.name)

    def apply(self, state: EngineState) -> EngineState:
        running = dict(state.weights)
        new = dict(running)
        for model, row in self.weights:
            if model in running:
                if len(row) != len(SOURCES) or any(_finite("weight", w) < 0 for w in row):
                    raise CommandError(f"weights of {model} must be {len(SOURCES)} numbers >= 0")
                new[model] = tuple(float(w) for w in row)
        for model in running:
            if model not in dict(self.weights):
                new[model] = (0.0,) * len(SOURCES)
        return replace(state, weights=tuple(new.items()), preset=self.name or state.preset)


@dataclass(frozen=True)
class SetMonitor:
    mode: str

    def apply(self, state: EngineState) -> EngineState:
        if self.mode not in MONITOR_MODES:
            raise CommandError(f"monitor must be one of {MONITOR_MODES}")
        return replace(state, monitor=self.mode)


@dataclass(frozen=True)
class Play:
    def apply(self, state: EngineState) -> EngineState:
        return replace(state, transport=replace(state.transport, playing=True))


@dataclass(frozen=True)
class Pause:
    def apply(self, state: EngineState) -> EngineState:
        return replace(state, transport=replace(state.transport, playing=False))


@dataclass(frozen=True)
class Seek:
    seconds: float

    def apply(self, state: EngineState) -> EngineState:
        seconds = _finite("seek position", self.seconds)
        t = state.transport
        return replace(state, transport=replace(t, seek_id=t.seek_id + 1, seek_to=max(0.0, seconds)))


@dataclass(frozen=True)
class SetLoop:
    """Loop [start, end) seconds; None clears the loop."""

    start: float | None
    end: float | None = None

    def apply(self, state: EngineState) -> EngineState:
        if self.start is None:
            return replace(state, transport=replace(state.transport, loop=None))
        start, end = _finite("loop start", self.start), _finite("loop end", self.end)
        if not 0 <= start < end:
            raise CommandError(f"loop needs 0 <= start < end, got {start}..{end}")
        return replace(state, transport=replace(state.transport, loop=(start, end)))


def preset_command(name_or_path: str) -> SetWeights:
    """The command that loads a fusion preset (PresetError names what is wrong with it)."""
    return SetWeights.of(load_preset(name_or_path))


Command = (
    SetGain
    | SetMute
    | SetSolo
    | ToggleMute
    | ToggleSolo
    | SoloReset
    | SetWeight
    | SetWeights
    | SetMonitor
    | Play
    | Pause
    | Seek
    | SetLoop
)
