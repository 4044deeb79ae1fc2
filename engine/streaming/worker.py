"""The inference process of the live engine.

It loads the models, then loops: take whatever new input the audio process has put in the input
ring, push it through the StreamProcessor, write each finished hop (stems and dry, aligned) into
the output ring at its stream position, and publish timing statistics. Fusion weights come from a
small shared array guarded by a sequence counter (the writer makes it odd while writing), so the
worker never waits on the GUI or OSC. Running in its own process keeps torch's work and the
Python GIL away from the audio callback; it also runs at a lower scheduling priority.
"""

import contextlib
import os
import time
import traceback
from dataclasses import dataclass, replace
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from dannasep.engine.constants import SAMPLE_RATE, SOURCES

# layout of the small float64 control/statistics arrays shared with the audio process
CTRL_VERSION, CTRL_STOP, CTRL_WEIGHTS = 0, 1, 2
STAT_HOPS, STAT_COMPUTE_TOTAL, STAT_COMPUTE_MAX, STAT_COMPUTE_LAST, STAT_HEARTBEAT, STAT_OVERRUNS = range(6)
STAT_SIZE = 8


@dataclass(frozen=True)
class WorkerSpec:
    """Everything the worker needs, picklable for a spawned process."""

    preset: str
    weights_dir: str | None
    size: str | None
    precision: str
    models: tuple[str, ...]
    wiener_iterations: int
    hop: int
    crossfade: int
    lookahead_seconds: float | None
    context_seconds: float | None
    forgetting_seconds: float
    wiener_lookahead_frames: int
    threads: int
    nice: int
    idle_priority: bool
    in_ring: str
    in_capacity: int
    out_ring: str
    out_capacity: int
    control: str
    stats: str


def read_weights(control: np.ndarray, models: tuple[str, ...]) -> dict[str, tuple[float, ...]] | None:
    """A consistent copy of the normalised weights, or None if a writer is mid-update."""
    before = control[CTRL_VERSION]
    values = control[CTRL_WEIGHTS : CTRL_WEIGHTS + len(models) * len(SOURCES)].copy()
    if before % 2 or control[CTRL_VERSION] != before:
        return None
    rows = values.reshape(len(models), len(SOURCES))
    return {m: tuple(float(w) for w in row) for m, row in zip(models, rows, strict=True)}


def write_weights(control: np.ndarray, models: tuple[str, ...], weights: dict[str, tuple[float, ...]]) -> None:
    control[CTRL_VERSION] += 1  # odd: writing
    for i, model in enumerate(models):
        row = weights.get(model, (0.0,) * len(SOURCES))
        control[CTRL_WEIGHTS + i * len(SOURCES) : CTRL_WEIGHTS + (i + 1) * len(SOURCES)] = row
    control[CTRL_VERSION] += 1  # even: consistent


def _build(spec: WorkerSpec):
    import torch

    from dannasep.engine.dsp.causal_wiener import CausalWienerSettings
    from dannasep.engine.separation import Separator, SeparatorConfig
    from dannasep.engine.streaming.processor import StreamProcessor, StreamSettings

    torch.set_num_threads(spec.threads)
    separator = Separator(
        SeparatorConfig(
            preset=spec.preset,
            weights_dir=Path(spec.weights_dir) if spec.weights_dir else None,
            size=spec.size,
            precision=spec.precision,
            wiener_iterations=spec.wiener_iterations,
        )
    )
    for estimator in separator.estimators.values():
        model = estimator.model
        if spec.lookahead_seconds is not None:
            least = (spec.crossfade + model.min_lookahead_samples()) / SAMPLE_RATE
            ahead = max(spec.lookahead_seconds, least)
            model.inference = replace(model.inference, stream_lookahead_seconds=ahead)
        if spec.context_seconds is not None:
            model.inference = replace(model.inference, stream_context_seconds=spec.context_seconds)
    settings = StreamSettings(
        spec.hop,
        spec.crossfade,
        CausalWienerSettings(spec.wiener_iterations, spec.forgetting_seconds, spec.wiener_lookahead_frames),
    )
    return separator, settings, StreamProcessor


def run_worker(spec: WorkerSpec, connection) -> None:
    """Process entry point. Sends ("ready", info) or ("error", message) once, then serves."""
    from dannasep.engine.streaming.rings import SharedRing

    # torch's OpenMP threads would otherwise spin between operations, taking the core the audio
    # callback needs. Measured A/B (low-latency preset, 46 ms hops, 2 runs each): spinning made hops
    # faster on average (worker RTF 0.25-0.28 against 0.39-0.41) but burned 130 % CPU against 47 %,
    # with worse worst hops (0.69-1.65 against 0.68-0.76), callbacks (max 4.5-7.8 ms against
    # 1.7-2.1 ms) and 4-6 under-runs in 20 s against 0-1. Set before torch is imported here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with contextlib.suppress(OSError):
        os.nice(spec.nice)
    if spec.idle_priority and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    try:
        separator, settings, processor_class = _build(spec)
        control_shm = shared_memory.SharedMemory(name=spec.control)
        stats_shm = shared_memory.SharedMemory(name=spec.stats)
        control = np.ndarray((CTRL_WEIGHTS + len(spec.models) * len(SOURCES),), np.float64, control_shm.buf)
        stats = np.ndarray((STAT_SIZE,), np.float64, stats_shm.buf)
        latest = {m: separator.preset.weights.get(m, (0.0,) * len(SOURCES)) for m in spec.models}

        def weights() -> dict[str, tuple[float, ...]]:
            nonlocal latest
            fresh = read_weights(control, spec.models)
            if fresh is not None:
                latest = fresh
            return latest

        estimators = {m: separator.estimators[m] for m in spec.models if m in separator.estimators}
        processor = processor_class(estimators, weights, settings)
        in_ring = SharedRing.attach(spec.in_ring, spec.in_capacity, (2,))
        out_ring = SharedRing.attach(spec.out_ring, spec.out_capacity, (len(SOURCES) + 1, 2))
        connection.send(
            (
                "ready",
                {
                    "algorithmic_latency": processor.algorithmic_latency,
                    "models": {m: separator.models[m].provenance for m in estimators},
                    "trained": all(separator.models[m].trained for m in estimators),
                },
            )
        )
    except Exception as exc:
        connection.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
        return
    _serve(processor, in_ring, out_ring, control, stats, settings.hop)


def _serve(processor, in_ring, out_ring, control, stats, hop: int) -> None:
    consumed = 0
    block = np.zeros((8192, 2), dtype=np.float32)
    frame = np.zeros((hop, len(SOURCES) + 1, 2), dtype=np.float32)
    while not control[CTRL_STOP]:
        stats[STAT_HEARTBEAT] = time.monotonic()
        available = in_ring.written - consumed
        if available > in_ring.capacity:
            stats[STAT_OVERRUNS] += 1  # we fell a whole ring behind: skip to what is still there
            consumed = in_ring.written - in_ring.capacity
            available = in_ring.capacity
        if available <= 0:
            time.sleep(0.002)
            continue
        n = min(available, block.shape[0])
        in_ring.read_into(block[:n], consumed)
        consumed += n
        in_ring.mark_read(consumed)
        started = time.perf_counter()
        hops = processor.push(block[:n].T)
        if not hops:
            continue
        elapsed = (time.perf_counter() - started) / len(hops)
        for h in hops:
            frame[:, : len(SOURCES)] = h.stems.transpose(2, 0, 1)
            frame[:, len(SOURCES)] = h.dry.T
            out_ring.write(frame, at=h.index * hop)
            stats[STAT_HOPS] += 1
            stats[STAT_COMPUTE_TOTAL] += elapsed
            stats[STAT_COMPUTE_LAST] = elapsed
            stats[STAT_COMPUTE_MAX] = max(stats[STAT_COMPUTE_MAX], elapsed)


def hop_seconds(hop: int) -> float:
    return hop / SAMPLE_RATE
