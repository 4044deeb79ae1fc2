"""A MIDI mapping: which Control Change or Note drives which control.

A binding names its target by the OSC address that does the same thing (the table in the README),
so MIDI and OSC share one set of controls and one parser. The MIDI value becomes the address's
argument: a CC value 0..127 scales onto `range` (default 0..1: a fader position, a fusion weight,
a switch that is on from 64); a Note On is 1 and a Note Off 0 (a toggle fires on the press only).
A binding with a fixed `value` (a preset name, a seek position) fires it on a press (CC >= 64 or
Note On) and ignores the release.

    channel = 0                     # 1-16: only that channel; 0: every channel
    bind = [
      { cc = 0, address = "/stem/drums/fader" },
      { note = 36, address = "/stem/drums/mute/toggle" },
      { cc = 64, address = "/preset", value = "paper" },
      { cc = 20, address = "/transport/seek", range = [0, 300] },
    ]
"""

import json
from dataclasses import dataclass, replace
from pathlib import Path

import tomllib
from platformdirs import user_config_path

from dannasep.engine.errors import DannaSepError
from dannasep.engine.osc.addresses import OscInputError, parse
from dannasep.engine.paths import presets_dir

CONTROL_CHANGE, NOTE_ON, NOTE_OFF = 0xB0, 0x90, 0x80
KINDS = ("cc", "note")


class MidiMapError(DannaSepError):
    """A mapping file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class MidiEvent:
    """One channel message: kind 'cc' or 'note', channel 1-16, number 0-127, value 0-127
    (a Note Off is a note with value 0)."""

    kind: str
    channel: int
    number: int
    value: int


def decode(message: bytes) -> MidiEvent | None:
    """The event in a raw MIDI message, or None for anything but CC, Note On and Note Off."""
    if len(message) != 3:
        return None
    status, number, value = message[0], message[1] & 0x7F, message[2] & 0x7F
    channel = (status & 0x0F) + 1
    kind = status & 0xF0
    if kind == CONTROL_CHANGE:
        return MidiEvent("cc", channel, number, value)
    if kind == NOTE_ON:
        return MidiEvent("note", channel, number, value)
    if kind == NOTE_OFF:
        return MidiEvent("note", channel, number, 0)
    return None


@dataclass(frozen=True)
class MidiBinding:
    kind: str
    number: int
    address: str
    value: str | float | None = None
    low: float = 0.0
    high: float = 1.0

    def argument(self, midi_value: int) -> str | float | None:
        """What the address receives for a MIDI value 0..127 (None: nothing to send)."""
        pressed = midi_value >= 64 if self.kind == "cc" else midi_value > 0
        if self.value is not None:
            return self.value if pressed else None
        if self.kind == "note":
            return 1.0 if pressed else 0.0
        return self.low + (self.high - self.low) * midi_value / 127.0

    def to_toml(self) -> str:
        fields = [f"{self.kind} = {self.number}", f"address = {json.dumps(self.address)}"]
        if self.value is not None:
            fields.append(f"value = {json.dumps(self.value)}")
        if (self.low, self.high) != (0.0, 1.0):
            fields.append(f"range = [{self.low}, {self.high}]")
        return "{ " + ", ".join(fields) + " }"


@dataclass(frozen=True)
class MidiMap:
    channel: int = 0
    bindings: tuple[MidiBinding, ...] = ()
    source: str = "(built in)"

    def binding_for(self, event: MidiEvent) -> MidiBinding | None:
        if self.channel and event.channel != self.channel:
            return None
        for binding in self.bindings:
            if binding.kind == event.kind and binding.number == event.number:
                return binding
        return None

    def command_for(self, event: MidiEvent):
        """The control-plane command (or PresetRequest) an event asks for, else None."""
        binding = self.binding_for(event)
        if binding is None:
            return None
        argument = binding.argument(event.value)
        if argument is None:
            return None
        return parse(binding.address, [argument])

    def learn(self, event: MidiEvent, address: str, value: str | float | None = None) -> "MidiMap":
        """This map with `event`'s control bound to `address` (with a fixed `value`, such as a preset
        name, or None), replacing what either was bound to."""
        _check_address(address, value, self.source)
        kept = tuple(
            b
            for b in self.bindings
            if (b.kind, b.number) != (event.kind, event.number) and (b.address, b.value) != (address, value)
        )
        return replace(self, bindings=(*kept, MidiBinding(event.kind, event.number, address, value)))

    def bound_to(self, address: str, value: str | float | None = None) -> tuple[MidiBinding, ...]:
        """The bindings that drive `address` with `value` (None: those that pass the MIDI value)."""
        return tuple(b for b in self.bindings if (b.address, b.value) == (address, value))

    def forget(self, address: str, value: str | float | None = None) -> "MidiMap":
        """This map without the bindings that drive `address` with `value`."""
        return replace(self, bindings=tuple(b for b in self.bindings if (b.address, b.value) != (address, value)))

    def to_toml(self) -> str:
        lines = [f"channel = {self.channel}", "bind = ["]
        lines += [f"  {binding.to_toml()}," for binding in self.bindings]
        return "\n".join([*lines, "]"]) + "\n"

    def save(self, path: Path) -> None:
        """Write the map as TOML (through a temporary file, so a crash never leaves half a map)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(self.to_toml())
        partial.replace(path)


def midi_maps_dir() -> Path:
    return presets_dir() / "midi"


def user_midi_map_path() -> Path:
    """The user's own map, which the app's MIDI learn writes ($XDG_CONFIG_HOME/dannasep/midi.toml on Linux)."""
    return user_config_path("dannasep", appauthor=False) / "midi.toml"


def load_midi_map(name_or_path: str | Path = "default") -> MidiMap:
    """A mapping by name (presets/midi/<name>.toml) or path; MidiMapError says what is wrong."""
    candidate = Path(name_or_path)
    path = candidate if candidate.suffix == ".toml" else midi_maps_dir() / f"{name_or_path}.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in midi_maps_dir().glob("*.toml")))
        raise MidiMapError(f"{path}: no such MIDI mapping (shipped: {known}; or give a .toml path)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MidiMapError(f"{path}: not a readable TOML file ({exc})") from exc
    return parse_midi_map(data, str(path))


def parse_midi_map(data: dict, source: str) -> MidiMap:
    unknown = set(data) - {"channel", "bind"}
    if unknown:
        raise MidiMapError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; expected channel and bind")
    channel = data.get("channel", 0)
    if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel <= 16:
        raise MidiMapError(f"{source}: channel must be 0 (every channel) or 1..16, got {channel!r}")
    entries = data.get("bind", [])
    if not isinstance(entries, list):
        raise MidiMapError(f"{source}: bind must be a list of {{ cc|note = N, address = ... }} tables")
    bindings = [_binding(entry, f"{source}: bind entry {i + 1}") for i, entry in enumerate(entries)]
    seen: dict[tuple[str, int], int] = {}
    for i, binding in enumerate(bindings):
        key = (binding.kind, binding.number)
        if key in seen:
            raise MidiMapError(
                f"{source}: bind entries {seen[key] + 1} and {i + 1} both use {binding.kind} {binding.number}"
            )
        seen[key] = i
    return MidiMap(channel, tuple(bindings), source)


def _binding(entry, where: str) -> MidiBinding:
    if not isinstance(entry, dict):
        raise MidiMapError(f'{where}: must be a table like {{ cc = 7, address = "/stem/drums/fader" }}')
    unknown = set(entry) - {*KINDS, "address", "value", "range"}
    if unknown:
        raise MidiMapError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    kinds = [k for k in KINDS if k in entry]
    if len(kinds) != 1:
        raise MidiMapError(f"{where}: give exactly one of cc = N or note = N")
    kind, number = kinds[0], entry[kinds[0]]
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 127:
        raise MidiMapError(f"{where}: {kind} must be 0..127, got {number!r}")
    address = entry.get("address")
    if not isinstance(address, str):
        raise MidiMapError(f'{where}: address must be an OSC address string such as "/stem/vocals/fader"')
    value = entry.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
        raise MidiMapError(f"{where}: value must be a number or a string, got {value!r}")
    low, high = 0.0, 1.0
    if "range" in entry:
        span = entry["range"]
        if (
            not isinstance(span, list)
            or len(span) != 2
            or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in span)
        ):
            raise MidiMapError(f"{where}: range must be two numbers [low, high], got {span!r}")
        low, high = float(span[0]), float(span[1])
    _check_address(address, value, where)
    return MidiBinding(kind, number, address, value, low, high)


def _check_address(address: str, value, where: str) -> None:
    """Through the OSC parser with a sample argument, so a mapping can only name real controls."""
    if address == "/preset" and not isinstance(value, str):
        raise MidiMapError(f'{where}: /preset needs value = "<preset name>"')
    try:
        parse(address, [value if value is not None else 1.0])
    except OscInputError as exc:
        raise MidiMapError(f"{where}: {exc}") from exc
