"""MIDI in the app: one MIDI input, the mapping it uses, and MIDI learn.

The input is JACK MIDI when a JACK server runs, else an ALSA virtual port, else none (the status
says why). Events go through engine.midi's MidiControl into the session's control plane (the idle
one, or the engine's once one plays) with the source "midi", so the window shows the change on its
next refresh and the OSC bridge echoes it to its clients, as for any other source.

The mapping starts from the user's map (`user_midi_map_path()`, under the XDG config folder) when it
exists, else from presets/midi/default.toml. What MIDI learn and "Forget MIDI" change is saved to
the user's map, never to the shipped presets.
"""

from dataclasses import dataclass, field
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal

from dannasep.engine.midi.control import MidiControl
from dannasep.engine.midi.inputs import AlsaMidiInput, JackMidiInput, MidiInputError, open_midi_input
from dannasep.engine.midi.mapping import (
    MidiBinding,
    MidiEvent,
    MidiMap,
    MidiMapError,
    load_midi_map,
    user_midi_map_path,
)
from dannasep.gui.session import Session

AUTO, OFF = "auto", "off"


@dataclass(frozen=True)
class MidiSettings:
    input: str = AUTO
    """auto (JACK, else ALSA, else none), jack, alsa (a virtual port), off, or an ALSA port name."""
    mapping: str | None = None
    """A map in presets/midi by name or a .toml path; None: the user's map if it exists, else default."""
    user_map: Path = field(default_factory=user_midi_map_path)
    connect: tuple[str, ...] = ()
    """JACK MIDI ports to connect to the input at start."""
    client_name: str = "dannasep-midi"


@dataclass(frozen=True)
class LearnTarget:
    """A control MIDI learn can bind: the OSC address that drives it, with a fixed value or None."""

    label: str
    address: str
    value: str | float | None = None


def describe_binding(binding: MidiBinding) -> str:
    return f"{'CC' if binding.kind == 'cc' else 'note'} {binding.number}"


def describe_event(event: MidiEvent) -> str:
    return f"{'CC' if event.kind == 'cc' else 'note'} {event.number} on channel {event.channel}"


class MidiLink(QObject):
    """The app's MIDI input and map. `changed` fires (on the GUI thread) whenever `status` changes."""

    changed = pyqtSignal()
    _learned = pyqtSignal(object, object)  # LearnTarget, MidiEvent: from the MIDI thread to the GUI's

    def __init__(self, session: Session, settings: MidiSettings):
        super().__init__()
        self.session, self.settings = session, settings
        self.pending: LearnTarget | None = None
        self.note = ""
        """The latest thing MIDI learn did, or what went wrong with the map."""
        self._saves = True  # False while the user's map on disk could not be read: it is not overwritten
        mapping = self._load_map()
        self.control = MidiControl(session.control, mapping)
        self._learned.connect(self._save_learned)
        self.input: JackMidiInput | AlsaMidiInput | None = None
        self.input_note = self._open_input()

    # -- the map -------------------------------------------------------------------------------
    @property
    def mapping(self) -> MidiMap:
        return self.control.mapping

    def _load_map(self) -> MidiMap:
        wanted = self.settings.mapping
        if wanted is None and self.settings.user_map.exists():
            wanted = str(self.settings.user_map)
        try:
            return load_midi_map(wanted or "default")
        except MidiMapError as exc:
            if Path(wanted or "").resolve() == self.settings.user_map.resolve():
                self._saves = False
            self.note = f"{exc}; using the default map" + ("" if self._saves else " (learned controls are not saved)")
            return load_midi_map("default")

    def _save(self, mapping: MidiMap) -> None:
        if not self._saves:
            self.note += f" (not saved: {self.settings.user_map} could not be read; fix or remove it)"
            return
        try:
            mapping.save(self.settings.user_map)
        except OSError as exc:
            self.note += f" (not saved: {exc})"

    # -- the input -------------------------------------------------------------------------------
    def _open_input(self) -> str:
        spec, name = self.settings.input, self.settings.client_name
        if spec == OFF:
            return "MIDI off"
        if spec != AUTO:
            try:
                self.input = open_midi_input(spec, self._handle, self.settings.connect, name)
            except (MidiInputError, OSError) as exc:
                return f"MIDI off: {exc}"
            return self._input_name(spec)
        try:
            self.input = JackMidiInput(self._handle, name=name, connect=self.settings.connect)
            return self._input_name("jack")
        except (MidiInputError, OSError):
            pass  # no JACK server (or no JACK library): try ALSA
        try:
            self.input = AlsaMidiInput(self._handle, name=name)
            return self._input_name("alsa")
        except MidiInputError:
            return "MIDI off: no JACK server runs and ALSA has no sequencer (start JACK, or pass --midi)"

    def _input_name(self, spec: str) -> str:
        if isinstance(self.input, JackMidiInput):
            return f"MIDI in: JACK port {self.input.port_name}"
        return f"MIDI in: ALSA {'virtual port ' + self.settings.client_name if spec == 'alsa' else spec}"

    def _handle(self, message: bytes) -> None:
        """On the input's thread: the event drives whichever control plane the session has now."""
        self.control.control = self.session.control
        self.control.handle(message)

    @property
    def status(self) -> str:
        if self.pending is not None:
            return f"MIDI learn: move a knob or press a key for {self.pending.label}…"
        return " · ".join(text for text in (self.input_note, self.note) if text)

    # -- learn -----------------------------------------------------------------------------------
    def learn(self, target: LearnTarget) -> None:
        """Bind the next Control Change or Note On that arrives to `target`."""
        self.pending = target
        self.control.learn(lambda event: self._bind(target, event))
        self.changed.emit()

    def cancel_learn(self) -> None:
        self.pending = None
        self.control.learn(None)
        self.changed.emit()

    def _bind(self, target: LearnTarget, event: MidiEvent) -> None:
        """On the input's thread: the new map takes effect before the next event (a knob sends many)."""
        self.control.mapping = self.mapping.learn(event, target.address, target.value)
        self._learned.emit(target, event)

    def _save_learned(self, target: LearnTarget, event: MidiEvent) -> None:
        if self.pending == target:
            self.pending = None
        channel = self.mapping.channel
        self.note = f"{describe_event(event)} → {target.label}" + (
            f" (the map listens on channel {channel} only)" if channel and event.channel != channel else ""
        )
        self._save(self.mapping)
        self.changed.emit()

    def forget(self, target: LearnTarget) -> None:
        """Unbind every MIDI control that drives `target`."""
        self.control.mapping = self.mapping.forget(target.address, target.value)
        self.note = f"forgot the MIDI for {target.label}"
        self._save(self.mapping)
        self.changed.emit()

    def close(self) -> None:
        self.control.learn(None)
        if self.input is not None:
            self.input.close()
            self.input = None
