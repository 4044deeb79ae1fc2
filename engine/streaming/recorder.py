"""Recording what the engine played, per strip: the audio callback copies each block into a
preallocated ring (never touching files), and a thread drains the ring into WAV files, renamed
into place when recording stops. A block that finds the ring full (the disk writer starved) is
written as silence of its length, so everything after it stays aligned, and is counted."""

import threading
from pathlib import Path

import numpy as np

from dannasep.engine.audio.writer import AudioFormat, StemWriter
from dannasep.engine.constants import SOURCES

RECORDED = (*SOURCES, "dry", "mix")
MAX_GAPS = 4096


class Recorder:
    def __init__(self, folder: Path, capacity: int = 1 << 20):
        self.folder = Path(folder)
        self._ring = np.zeros((capacity, len(RECORDED), 2), dtype=np.float32)
        self._written = 0  # callback's counter
        self._read = 0  # writer thread's counter
        # (ring position, frames) of each block lost to a full ring; the callback appends, the writer
        # reads up to _gap_count; both preallocated so the callback never allocates
        self._gaps = np.zeros((MAX_GAPS, 2), dtype=np.int64)
        self._gap_count = 0
        self._gaps_written = 0
        self.lost_frames = 0
        self._stop = threading.Event()
        targets = {name: self.folder / f"{name}.wav" for name in RECORDED}
        self._writer = StemWriter(targets, AudioFormat("wav", "float"))
        self._thread = threading.Thread(target=self._drain, name="dannasep-recorder", daemon=True)

    def start(self) -> None:
        self._writer.__enter__()
        self._thread.start()

    def push(self, post: np.ndarray) -> None:
        """Called by the audio callback with (n, 6, 2): the strips after gain, then the mix."""
        n = post.shape[0]
        cap = self._ring.shape[0]
        if self._written + n - self._read > cap:
            self.lost_frames += n
            if self._gap_count < MAX_GAPS:
                self._gaps[self._gap_count] = (self._written, n)
                self._gap_count += 1
            return
        offset = self._written % cap
        first = min(n, cap - offset)
        self._ring[offset : offset + first] = post[:first]
        self._ring[: n - first] = post[first:]
        self._written += n

    def _drain(self) -> None:
        while True:
            stopping = self._stop.wait(0.05)
            self._write_until(self._written)
            if stopping:
                return

    def _write_until(self, end: int) -> None:
        cap = self._ring.shape[0]
        while True:
            if self._gaps_written < self._gap_count and self._gaps[self._gaps_written, 0] == self._read:
                silence = np.zeros((2, int(self._gaps[self._gaps_written, 1])), dtype=np.float32)
                for name in RECORDED:
                    self._writer.write(name, silence)
                self._gaps_written += 1
                continue
            if self._read >= end:
                return
            stop = end
            if self._gaps_written < self._gap_count:
                stop = min(stop, int(self._gaps[self._gaps_written, 0]))
            offset = self._read % cap
            n = min(stop - self._read, cap - offset)
            block = self._ring[offset : offset + n]
            for i, name in enumerate(RECORDED):
                self._writer.write(name, block[:, i, :].T)
            self._read += n

    def stop(self) -> list[Path]:
        self._stop.set()
        self._thread.join()
        return self._writer.commit()
