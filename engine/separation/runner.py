"""Running several networks over a long signal chunk by chunk, fusing, and emitting finished audio.

All enabled networks share one chunk plan (the smallest segment and largest overlap among them);
each gets its own real context on both sides of the kept part, trimmed where the signal ends: the
first chunk starts at the signal's start and the last stops just past its end (plus what the
network drops at a window edge), because context made of invented silence costs compute and
tells the network nothing. Per chunk: every network estimates
the stems of its context window, the kept parts are fused with the preset's weights, and the
result goes into one overlap-add accumulator that releases samples as soon as no later chunk can
touch them. Memory therefore depends on the segment length, not on the song.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.dsp.overlap_add import Chunk, OverlapAdd, crossfade_weights, plan_chunks
from dannasep.engine.fusion.presets import FusionPreset
from dannasep.engine.separation.estimators import StemEstimator
from dannasep.engine.separation.fusion import fuse


class SignalReader(Protocol):
    length: int

    def read(self, start: int, stop: int) -> np.ndarray:
        """(2, stop - start) float32, zeros outside [0, length)."""
        ...


class ArrayReader:
    """An in-memory (2, time) signal as a SignalReader (a strided view is read as it is, not copied)."""

    def __init__(self, signal: np.ndarray):
        self.signal = np.asarray(signal, dtype=np.float32)
        self.length = self.signal.shape[-1]

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.zeros((self.signal.shape[0], stop - start), dtype=np.float32)
        lo, hi = max(start, 0), min(stop, self.length)
        if hi > lo:
            out[:, lo - start : hi - start] = self.signal[:, lo:hi]
        return out


@dataclass(frozen=True)
class ChunkPlanSettings:
    segment: int
    overlap: float
    contexts: dict[str, int]


def shared_plan(estimators: dict[str, StemEstimator]) -> ChunkPlanSettings:
    settings = [e.model.inference for e in estimators.values()]
    return ChunkPlanSettings(
        segment=round(min(s.segment_seconds for s in settings) * SAMPLE_RATE),
        overlap=max(s.overlap for s in settings),
        contexts={arch: e.model.traits.context_samples for arch, e in estimators.items()},
    )


Progress = Callable[[int, int], None]
"""progress(done_samples, total_samples)"""


def model_window(chunk: Chunk, context: int, length: int, edge: int, minimum: int) -> tuple[int, int]:
    """Samples [start, stop) a network is fed for `chunk`: `context` on each side, no earlier than
    0, and no later than `edge` samples past the signal's end, but at least `minimum` long (zeros
    after the end of a very short signal)."""
    start = max(chunk.start - context, 0)
    stop = min(chunk.stop + context, max(length, chunk.stop) + edge)
    return start, max(stop, start + minimum)


def chunk_stems(
    reader: SignalReader, estimator: StemEstimator, chunk: Chunk, context: int, statistics=None
) -> torch.Tensor:
    """One network's (4, 2, chunk.length) stems of the kept part of `chunk`, fed `context` samples
    of real audio on each side. statistics: see StemEstimator (None: the window's own)."""
    model = estimator.model
    start, stop = model_window(chunk, context, reader.length, model.min_lookahead_samples(), model.min_input_length())
    window = torch.from_numpy(reader.read(start, stop)).unsqueeze(0)
    stems = (estimator(window) if statistics is None else estimator(window, statistics))[0]
    offset = chunk.start - start
    return stems[..., offset : offset + chunk.length]


def separate_stream(
    reader: SignalReader,
    estimators: dict[str, StemEstimator],
    preset: FusionPreset,
    emit: Callable[[np.ndarray], None],
    progress: Progress | None = None,
    plan: ChunkPlanSettings | None = None,
) -> None:
    """Separate `reader` and call ``emit(block)`` with consecutive (4, 2, n) float32 blocks
    covering [0, reader.length) exactly once, in order."""
    plan = plan or shared_plan(estimators)
    chunks = plan_chunks(reader.length, plan.segment, plan.overlap)
    ola = OverlapAdd((len(SOURCES), 2), max(chunk.length for chunk in chunks))
    for position, chunk in enumerate(chunks):
        estimates = {arch: chunk_stems(reader, estimators[arch], chunk, plan.contexts[arch]) for arch in preset.models}
        fused = fuse(estimates, preset).numpy()
        ola.add(chunk.start, fused, crossfade_weights(chunk.length, chunk.fade_in, chunk.fade_out))
        until = chunks[position + 1].start if position + 1 < len(chunks) else reader.length
        emit(ola.release(until))
        if progress is not None:
            progress(until, reader.length)


def separate_array(
    mix: np.ndarray,
    estimators: dict[str, StemEstimator],
    preset: FusionPreset,
    progress: Progress | None = None,
    plan: ChunkPlanSettings | None = None,
) -> np.ndarray:
    """(2, time) -> (4, 2, time) in memory."""
    blocks: list[np.ndarray] = []
    separate_stream(ArrayReader(mix), estimators, preset, blocks.append, progress, plan)
    return np.concatenate(blocks, axis=-1)
