"""The control plane between the engine and whoever controls it.

`apply(commands)` validates and applies a batch atomically: one new immutable state is published,
so everything in a batch (an OSC bundle) takes effect at the same audio-block boundary. The audio
callback and the inference worker only ever read the latest published state (a reference swap, no
lock on their side). Every change is echoed to all listeners with the source that caused it.
"""

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dannasep.engine.control.commands import Command, CommandError
from dannasep.engine.control.state import EngineState

log = logging.getLogger(__name__)

Listener = Callable[[EngineState, EngineState, str], None]
"""listener(old_state, new_state, source)"""


@dataclass(frozen=True)
class ApplyResult:
    state: EngineState
    applied: int
    rejected: tuple[tuple[Command, str], ...]


class ControlPlane:
    def __init__(self, initial: EngineState):
        self._state = initial
        self._lock = threading.Lock()  # serialises writers (GUI, OSC); readers never take it
        self._listeners: list[Listener] = []

    @property
    def state(self) -> EngineState:
        return self._state

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def apply(self, commands: Sequence[Command], source: str = "") -> ApplyResult:
        """Apply valid commands in order as one change; invalid ones are skipped and reported."""
        rejected = []
        with self._lock:
            old = self._state
            state = old
            for command in commands:
                try:
                    state = command.apply(state)
                except CommandError as exc:
                    rejected.append((command, str(exc)))
            self._state = state
        if state != old:
            for listener in list(self._listeners):
                try:
                    listener(old, state, source)
                except Exception:
                    log.exception("control listener failed")
        return ApplyResult(state, len(commands) - len(rejected), tuple(rejected))
