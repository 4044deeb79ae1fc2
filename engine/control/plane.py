"""The control plane between the engine and whoever controls it.

`apply(commands)` validates and applies a batch atomically: one new immutable state is published,
so everything in a batch (an OSC bundle) takes effect at the same audio-block boundary. The audio
callback and the inference worker only ever read the latest published state (a reference swap, no
lock on their side). Every change is echoed to all listeners with the source that caused it.

Listeners get the changes in the order they were applied, each exactly once, even with several
writers (the app and an OSC client at once): a change is queued under the state lock, and one
writer at a time delivers the queue. Without that, a writer preempted between applying and
delivering could hand the inference processes older fusion weights after newer ones. A listener
runs outside the state lock (readers and other writers' applies never wait on it); a listener that
applies a change itself has it delivered after the current one, by the same loop.
"""

import logging
import threading
from collections import deque
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
        self._pending: deque[tuple[EngineState, EngineState, str]] = deque()  # applied, not yet delivered
        self._delivery = threading.Lock()  # one thread delivers at a time, in queue order
        self._delivering: int | None = None  # that thread's ident

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
                self._pending.append((old, state, source))
        self._deliver()
        return ApplyResult(state, len(commands) - len(rejected), tuple(rejected))

    def _deliver(self) -> None:
        """Hand every queued change to the listeners, oldest first; returns once the queue, this
        caller's change included, has been delivered."""
        if self._delivering == threading.get_ident():
            return  # called from a listener: the loop below, further up this stack, delivers it next
        with self._delivery:
            self._delivering = threading.get_ident()
            try:
                while True:
                    with self._lock:
                        if not self._pending:
                            return
                        old, new, source = self._pending.popleft()
                    for listener in list(self._listeners):
                        try:
                            listener(old, new, source)
                        except Exception:
                            log.exception("control listener failed")
            finally:
                self._delivering = None
