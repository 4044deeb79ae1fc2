"""Chunk planning and overlap-add with cross-fades normalised by the weight sum.

A long signal is cut into chunks whose *cores* overlap by `overlap · segment` samples. Each chunk is
processed with extra real context on both sides (cropped away afterwards), and the cores are
blended with linear cross-fades. Dividing by the accumulated weight makes the blend exact: an
identity model returns its input bit for bit, whatever the length, segment or overlap.

The accumulator only keeps samples that a future chunk can still touch, so the offline path
writes finished audio to disk as it goes and memory depends on the segment, not on the song.
"""

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Chunk:
    """One chunk of a plan. Samples [start, stop) are kept; [start - left, stop + right) are fed in.

    ``stop`` may run past the signal end for the last chunk; the caller zero-pads the input there.
    """

    index: int
    start: int
    stop: int
    fade_in: int
    fade_out: int

    @property
    def length(self) -> int:
        return self.stop - self.start


STRETCH = 0.1
"""Chunks may be up to this fraction longer than the segment when that saves a whole chunk: a 60 s
song in 30 s segments is two chunks of 30.75 s, not three with a 3 s remainder that would still pay
for its full context."""


def plan_chunks(length: int, segment: int, overlap: float) -> list[Chunk]:
    """Cut [0, length) into chunks of about `segment` samples overlapping by `overlap` (0 <= overlap < 1).

    Chunks are `segment` long (the last one possibly shorter), or all equally long and at most
    STRETCH longer when that takes one chunk fewer. The first chunk has no fade-in and the last no
    fade-out, so every sample has a positive weight.
    """
    if length <= 0:
        raise ValueError("cannot plan chunks for an empty signal")
    if segment <= 0 or not 0.0 <= overlap < 1.0:
        raise ValueError(f"bad chunking: segment={segment}, overlap={overlap}")
    fade = min(round(segment * overlap), segment - 1)
    stride = segment - fade
    count = max(1, math.ceil((length - fade) / stride))
    fewer = max(1, math.ceil((length - fade) / (stride * (1 + STRETCH))))
    if fewer < count:
        count = fewer
        stride = math.ceil((length - fade) / count)
        segment = stride + fade
    chunks = []
    for k in range(count):
        start = k * stride
        chunks.append(
            Chunk(
                index=k,
                start=start,
                stop=min(start + segment, length) if k == count - 1 else start + segment,
                fade_in=fade if k > 0 else 0,
                fade_out=fade if k < count - 1 else 0,
            )
        )
    return chunks


def crossfade_weights(length: int, fade_in: int, fade_out: int) -> np.ndarray:
    """(length,) float64 weights: linear ramps at the ends, 1 in between, never 0.

    Ramps use half-sample offsets, so a fade-out and the next chunk's fade-in sum to exactly 1.
    """
    w = np.ones(length, dtype=np.float64)
    if fade_in:
        w[:fade_in] = (np.arange(fade_in) + 0.5) / fade_in
    if fade_out:
        w[length - fade_out :] = np.minimum(w[length - fade_out :], (np.arange(fade_out, 0, -1) - 0.5) / fade_out)
    return w


class OverlapAdd:
    """Accumulates weighted chunks along the last axis and releases finished samples.

    Args:
        shape: leading shape of every block, e.g. (source, channel).
        capacity: the most samples that can be pending at once (segment length is enough when
            chunks are added in order).
    """

    def __init__(self, shape: tuple[int, ...], capacity: int):
        self._sum = np.zeros((*shape, capacity), dtype=np.float64)
        self._weight = np.zeros(capacity, dtype=np.float64)
        self._origin = 0  # signal position of buffer index 0
        self.released = 0  # samples already handed out

    def add(self, start: int, block: np.ndarray, weights: np.ndarray) -> None:
        """Add `block` (..., n) with `weights` (n,) at signal position `start`."""
        if start < self.released:
            raise ValueError(f"chunk at {start} overlaps audio already released up to {self.released}")
        offset = start - self._origin
        n = block.shape[-1]
        if offset + n > self._weight.shape[0]:
            raise ValueError("chunk does not fit the overlap-add buffer; add chunks in order")
        self._sum[..., offset : offset + n] += block * weights
        self._weight[offset : offset + n] += weights

    def release(self, until: int) -> np.ndarray:
        """Return the finished samples [released, until) as float32 (..., until - released)."""
        n = until - self.released
        if n <= 0:
            return self._sum[..., :0].astype(np.float32)
        if np.any(self._weight[:n] <= 0):
            raise ValueError("releasing samples no chunk has covered")
        out = (self._sum[..., :n] / self._weight[:n]).astype(np.float32)
        # shift the pending tail to the front; the buffer never grows
        self._sum[..., :-n] = self._sum[..., n:].copy()
        self._sum[..., -n:] = 0.0
        self._weight[:-n] = self._weight[n:].copy()
        self._weight[-n:] = 0.0
        self._origin += n
        self.released = until
        return out
