"""A JACK client that plays MIDI messages into a port, as a controller would (tests only)."""

import threading
import time

import jack


def cc(number: int, value: int, channel: int = 1) -> bytes:
    return bytes([0xB0 | (channel - 1), number, value])


def note_on(number: int, velocity: int = 100) -> bytes:
    return bytes([0x90, number, velocity])


def note_off(number: int) -> bytes:
    return bytes([0x80, number, 0])


class Keyboard:
    """`test-keyboard:out`, connected to `target`; `send` queues messages for the next JACK period."""

    def __init__(self, target: str, name: str = "test-keyboard"):
        self.client = jack.Client(name, no_start_server=True)
        self.port = self.client.midi_outports.register("out")
        self._outbox: list[bytes] = []
        self._lock = threading.Lock()
        self.cycles = 0
        self.client.set_process_callback(self._process)
        self.client.activate()
        self.client.connect(self.port, target)
        self._wait_cycles(2)

    def _wait_cycles(self, cycles: int, timeout: float = 60.0) -> None:
        """A connection takes effect at a cycle start, one or more cycles later on a busy machine;
        a message sent before then would be lost (seen in a loaded suite run)."""
        first, deadline = self.cycles, time.monotonic() + timeout
        while self.cycles <= first + cycles:
            assert time.monotonic() < deadline, "JACK runs no cycles"
            time.sleep(0.005)

    def _process(self, _frames: int) -> None:
        self.cycles += 1
        self.port.clear_buffer()
        with self._lock:
            messages, self._outbox = self._outbox, []
        for message in messages:
            self.port.write_midi_event(0, message)

    def send(self, *messages: bytes) -> None:
        with self._lock:
            self._outbox.extend(messages)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()
