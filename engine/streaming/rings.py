"""Single-producer single-consumer audio rings in shared memory (between the audio process and the
inference process, or two threads).

A ring holds `capacity` frames of shape `frame_shape` and two counters: the total frames ever
written and ever read. The producer writes data first and publishes the new write counter
afterwards; the consumer reads the counter, then the data. Aligned 8-byte stores are atomic on the
platforms we run on, so neither side ever waits for the other: a full or empty ring is reported
to the caller, who counts it.
"""

from multiprocessing import shared_memory

import numpy as np


class SharedRing:
    """A (capacity, *frame_shape) float32 ring with int64 write/read counters, in shared memory.

    Create it in one process (``SharedRing.create``) and attach in the other (``SharedRing.attach``
    with the same `name`, `capacity` and `frame_shape`).
    """

    def __init__(self, shm: shared_memory.SharedMemory, capacity: int, frame_shape: tuple[int, ...], owner: bool):
        self._shm = shm
        self.capacity = capacity
        self.frame_shape = frame_shape
        self._owner = owner
        counters = np.ndarray((2,), dtype=np.int64, buffer=shm.buf, offset=0)
        self._counters = counters  # [written, read]
        self.data = np.ndarray((capacity, *frame_shape), dtype=np.float32, buffer=shm.buf, offset=64)

    @staticmethod
    def _nbytes(capacity: int, frame_shape: tuple[int, ...]) -> int:
        return 64 + capacity * int(np.prod(frame_shape)) * 4

    @classmethod
    def create(cls, capacity: int, frame_shape: tuple[int, ...]) -> "SharedRing":
        shm = shared_memory.SharedMemory(create=True, size=cls._nbytes(capacity, frame_shape))
        ring = cls(shm, capacity, frame_shape, owner=True)
        ring._counters[:] = 0
        ring.data.fill(0.0)
        return ring

    @classmethod
    def attach(cls, name: str, capacity: int, frame_shape: tuple[int, ...]) -> "SharedRing":
        return cls(shared_memory.SharedMemory(name=name), capacity, frame_shape, owner=False)

    @property
    def name(self) -> str:
        return self._shm.name

    @property
    def written(self) -> int:
        return int(self._counters[0])

    def write(self, frames: np.ndarray, at: int | None = None) -> None:
        """Store (n, *frame_shape) frames at absolute position `at` (default: the write counter)
        and publish the counter as at + n. Callers must not outrun the reader by more than capacity."""
        start = self.written if at is None else at
        n = frames.shape[0]
        offset = start % self.capacity
        first = min(n, self.capacity - offset)
        self.data[offset : offset + first] = frames[:first]
        if first < n:
            self.data[: n - first] = frames[first:]
        self._counters[0] = start + n  # publish after the data

    def read_into(self, out: np.ndarray, start: int) -> None:
        """Copy frames [start, start + len(out)) into `out` (no allocation). The caller checks that
        they were written and are still inside the ring."""
        n = out.shape[0]
        offset = start % self.capacity
        first = min(n, self.capacity - offset)
        out[:first] = self.data[offset : offset + first]
        if first < n:
            out[first:] = self.data[: n - first]

    def mark_read(self, count: int) -> None:
        self._counters[1] = count

    def close(self) -> None:
        # drop our views before closing the mapping
        del self.data, self._counters
        self._shm.close()
        if self._owner:
            self._shm.unlink()
