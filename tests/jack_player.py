"""A JACK client that plays a stereo signal into the graph, as a DAW track would (tests only)."""

import time

import jack
import numpy as np


class JackPlayer:
    """Plays `signal` ((frames, 2)) once from when `go` is set, then silence, on ports out_L/out_R."""

    def __init__(self, signal: np.ndarray, name: str = "test-player"):
        self.signal, self.position, self.go = signal, 0, False
        self.cycles = 0
        self.client = jack.Client(name, no_start_server=True)
        self.ports = [self.client.outports.register(f"out_{side}") for side in "LR"]
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        for c, port in enumerate(self.ports):
            buffer = port.get_array()
            buffer.fill(0.0)
            if self.go:
                chunk = self.signal[self.position : self.position + frames, c]
                buffer[: len(chunk)] = chunk
        if self.go:
            self.position += frames
        self.cycles += 1

    def start(self, cycles: int = 2, timeout: float = 60.0) -> None:
        """Play from a cycle after `cycles` whole cycles have run since the call: connections made
        just before take effect at a cycle start, one or more cycles apart on a busy machine, and a
        channel connected a cycle late would lose the song's first period."""
        first, deadline = self.cycles, time.monotonic() + timeout
        while self.cycles <= first + cycles:
            assert time.monotonic() < deadline, "JACK runs no cycles"
            time.sleep(0.005)
        self.go = True

    def close(self) -> None:
        """Before the client it plays into goes: a client left connected to one that exited can hang
        JACK's close."""
        self.go = False
        self.client.deactivate()
        self.client.close()
