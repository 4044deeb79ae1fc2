"""MIDI events into the control plane: each mapped event becomes one command, applied with the
source "midi" (so the app and OSC clients see the change, as they see each other's)."""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from dannasep.engine.control.commands import SetWeights, preset_command
from dannasep.engine.control.plane import ControlPlane
from dannasep.engine.errors import DannaSepError
from dannasep.engine.midi.mapping import MidiEvent, MidiMap, decode
from dannasep.engine.osc.addresses import OscInputError, PresetRequest

log = logging.getLogger(__name__)

Learner = Callable[[MidiEvent], None]


@dataclass
class MidiStats:
    received: int = 0
    applied: int = 0
    unmapped: int = 0
    rejected: list[str] = field(default_factory=list)


class MidiControl:
    """Turns raw MIDI messages into commands. `learn(callback)` hands the next CC or Note to the
    callback instead (MIDI learn); the mapping can be swapped while messages arrive."""

    def __init__(self, control: ControlPlane, mapping: MidiMap):
        self.control = control
        self.mapping = mapping
        self.stats = MidiStats()
        self._learner: Learner | None = None
        self._lock = threading.Lock()

    def learn(self, callback: Learner | None) -> None:
        """Give the next CC or Note On to `callback` (None cancels)."""
        with self._lock:
            self._learner = callback

    def handle(self, message: bytes) -> None:
        event = decode(message)
        if event is None:
            return
        self.stats.received += 1
        with self._lock:
            learner = self._learner
            if learner is not None and (event.kind == "cc" or event.value > 0):
                self._learner = None
        if learner is not None and (event.kind == "cc" or event.value > 0):
            learner(event)
            return
        try:
            command = self.mapping.command_for(event)
        except OscInputError as exc:
            self._reject(f"{event}: {exc}")
            return
        if command is None:
            self.stats.unmapped += 1
            return
        if isinstance(command, PresetRequest):
            command = self._preset_command(command.name)
            if command is None:
                return
        result = self.control.apply([command], source="midi")
        self.stats.applied += result.applied
        for rejected, reason in result.rejected:
            self._reject(f"{rejected}: {reason}")

    def _preset_command(self, name: str) -> SetWeights | None:
        try:
            return preset_command(name)
        except DannaSepError as exc:
            self._reject(str(exc))
            return None

    def _reject(self, reason: str) -> None:
        if len(self.stats.rejected) < 100:
            self.stats.rejected.append(reason)
        log.warning("MIDI: ignored %s", reason)
