"""The inference process of the live engine.

It loads the models, then loops: take whatever new input the audio process has put in the input
ring, push it through the StreamProcessor, write each finished hop (stems and dry, aligned) into
the output ring at its stream position, and publish timing statistics. Fusion weights come from a
small shared array guarded by a sequence counter (the writer makes it odd while writing), so the
worker never waits on the GUI or OSC. Running in its own process keeps torch's work and the
Python GIL away from the audio callback; it also runs at a lower scheduling priority.
"""

import contextlib
import gc
import os
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from dannasep.engine.constants import SOURCES
from dannasep.engine.lifeline import Lifeline
from dannasep.engine.streaming.timing import LiveTiming

# layout of the small float64 control/statistics arrays shared with the audio process
CTRL_VERSION, CTRL_STOP, CTRL_DROPPED, CTRL_WEIGHTS = 0, 1, 2, 3
STAT_HOPS, STAT_COMPUTE_TOTAL, STAT_COMPUTE_MAX, STAT_COMPUTE_LAST = range(4)
STAT_HEARTBEAT, STAT_OVERRUNS, STAT_WEIGHTS_VERSION = range(4, 7)
STAT_SIZE = 8
SPIN_COUNT = 3_000
KEEP_WARM_SECONDS = 0.5
ONNX_MAX_PARAMETERS = 50_000_000
"""Larger networks stay with PyTorch under the onnxruntime runtime: an exported graph is a copy of
the weights per window shape (0.77 GB for the paper-size Demucs), and those networks are too slow
to stream on 2 cores either way."""


@dataclass(frozen=True)
class WorkerSpec:
    """Everything the worker needs, picklable for a spawned process."""

    preset: str
    weights_dir: str | None
    size: str | None
    precision: str
    models: tuple[str, ...]
    """Every model of the preset (the weights array holds them all)."""
    runs: tuple[str, ...]
    """The models this process runs (its lane)."""
    wiener_iterations: int
    timing: LiveTiming
    forgetting_seconds: float
    wiener_lookahead_frames: int
    threads: int
    runtime: str
    """"torch" or "onnxruntime" (resolved): what computes the networks' forward."""
    nice: int
    idle_priority: bool
    in_ring: str
    in_capacity: int
    out_ring: str
    out_capacity: int
    control: str
    stats: str
    lifeline: Lifeline | None = None
    """Set by the lane that starts the process: the process ends when the engine's does."""


def read_weights(control: np.ndarray, models: tuple[str, ...]) -> dict[str, tuple[float, ...]] | None:
    """A consistent copy of the raw weights, or None if a writer is mid-update."""
    versioned = read_weights_versioned(control, models)
    return versioned[1] if versioned else None


def read_weights_versioned(
    control: np.ndarray, models: tuple[str, ...]
) -> tuple[float, dict[str, tuple[float, ...]]] | None:
    """(version, weights) of a consistent copy, or None if a writer is mid-update."""
    before = control[CTRL_VERSION]
    values = control[CTRL_WEIGHTS : CTRL_WEIGHTS + len(models) * len(SOURCES)].copy()
    if before % 2 or control[CTRL_VERSION] != before:
        return None
    rows = values.reshape(len(models), len(SOURCES))
    return float(before), {m: tuple(float(w) for w in row) for m, row in zip(models, rows, strict=True)}


def write_weights(control: np.ndarray, models: tuple[str, ...], weights: dict[str, tuple[float, ...]]) -> None:
    """Store raw weights, `models` rows in that order (a model missing from `weights` weighs 0);
    one writer at a time (the control plane's delivering thread)."""
    control[CTRL_VERSION] += 1  # odd: writing
    for i, model in enumerate(models):
        row = weights.get(model, (0.0,) * len(SOURCES))
        control[CTRL_WEIGHTS + i * len(SOURCES) : CTRL_WEIGHTS + (i + 1) * len(SOURCES)] = row
    control[CTRL_VERSION] += 1  # even: consistent


def _build(spec: WorkerSpec):
    import torch

    from dannasep.engine.dsp.causal_wiener import CausalWienerSettings
    from dannasep.engine.separation.separator import SeparatorConfig, load_model
    from dannasep.engine.streaming.processor import StreamSettings

    torch.set_num_threads(spec.threads)
    onnx = spec.runtime == "onnxruntime"
    config = SeparatorConfig(
        preset=spec.preset,
        weights_dir=Path(spec.weights_dir) if spec.weights_dir else None,
        size=spec.size,
        precision="fp32" if onnx else spec.precision,
        wiener_iterations=spec.wiener_iterations,
    )
    loaded = {arch: load_model(arch, config) for arch in spec.runs}
    if onnx:
        from dannasep.engine.models.onnx_runner import OnnxRunner, default_cache_dir

        for estimator in (model.estimator for model in loaded.values()):
            if estimator.model.num_parameters() <= ONNX_MAX_PARAMETERS:
                estimator.network = OnnxRunner(estimator.model, default_cache_dir(), spec.threads, log=_note)
    wiener = CausalWienerSettings(spec.wiener_iterations, spec.forgetting_seconds, spec.wiener_lookahead_frames)
    return loaded, StreamSettings(spec.timing, wiener)


def _runtime_note(estimator) -> str:
    return "" if estimator.network is estimator.model else " (through ONNX Runtime)"


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def run_worker(spec: WorkerSpec, connection) -> None:
    """Process entry point. Sends ("ready", info) or ("error", message) once, then serves."""
    from dannasep.engine.streaming.processor import StreamProcessor
    from dannasep.engine.streaming.rings import SharedRing

    if spec.lifeline is not None:
        spec.lifeline.hold()
    # OpenMP threads spin briefly before they sleep: libgomp's long default takes the CPU the audio
    # callback needs, and no spinning makes each LSTM frame pay a thread wake-up (README,
    # "Measurements behind the code"). Set before torch is imported; an explicit GOMP_SPINCOUNT wins.
    os.environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))
    with contextlib.suppress(OSError):
        os.nice(spec.nice)
    if spec.idle_priority and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    try:
        loaded, settings = _build(spec)
        control_shm = shared_memory.SharedMemory(name=spec.control)
        stats_shm = shared_memory.SharedMemory(name=spec.stats)
        control = np.ndarray((CTRL_WEIGHTS + len(spec.models) * len(SOURCES),), np.float64, control_shm.buf)
        stats = np.ndarray((STAT_SIZE,), np.float64, stats_shm.buf)
        latest = read_weights(control, spec.models) or {}

        def weights() -> dict[str, tuple[float, ...]]:
            nonlocal latest
            fresh = read_weights_versioned(control, spec.models)
            if fresh is not None:
                stats[STAT_WEIGHTS_VERSION], latest = fresh  # the version says which write a hop used
            return latest

        estimators = {m: loaded[m].estimator for m in spec.runs}
        processor = StreamProcessor(estimators, weights, settings, models=spec.models)
        warm_up(processor)
        for estimator in estimators.values():
            if hasattr(estimator.network, "freeze"):
                estimator.network.freeze()  # the warm-up met every window shape a stream has
        # the models' objects live as long as the process: keep the collector from walking them
        # in the middle of a hop (as the audio process does)
        gc.collect()
        gc.freeze()
        in_ring = SharedRing.attach(spec.in_ring, spec.in_capacity, (2,))
        out_ring = SharedRing.attach(spec.out_ring, spec.out_capacity, (len(SOURCES) + 1, 2))
        connection.send(
            (
                "ready",
                {
                    "algorithmic_latency": processor.algorithmic_latency,
                    "models": {m: loaded[m].provenance + _runtime_note(estimators[m]) for m in estimators},
                    "trained": all(m.trained for m in loaded.values()),
                },
            )
        )
    except Exception as exc:
        connection.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
        return
    latency = processor.algorithmic_latency + spec.timing.safety
    _serve(processor, in_ring, out_ring, control, stats, Degrader(processor, latency), parent=os.getppid())


def warm_up(processor, hops: int = 3) -> None:
    """Run a few hops of noise, then forget them: the first calls at each window shape pay oneDNN's
    kernel selection and the allocator's growth, which made the first real hops late."""
    noise = np.random.default_rng(0).standard_normal((2, (hops + 1) * processor.timing.hop)).astype(np.float32)
    processor.push(0.1 * noise)
    processor.reset()


class Degrader:
    """Drops the costliest model when inference keeps falling behind, so that the stems stay
    continuous with fewer models instead of dropping out every few hops.

    A hop is late when the audio callback has already needed its first sample (the input has run
    more than `latency` samples past it). After `late_limit` late hops among the latest `window`,
    the model of this process with the highest average compute time stops running; every process
    renormalises the remaining weights, and the engine reports it. The hops already queued behind
    then come late too, so lateness counts again only once a hop is on time or after `4 · window`
    hops; the same holds at the start, whose first hops wait for the look-ahead. The last model
    running anywhere is never dropped."""

    def __init__(self, processor, latency: int, late_limit: int = 3, window: int = 16):
        self.processor, self.latency = processor, latency
        self.late_limit, self.window = late_limit, window
        self._recent: list[bool] = []
        self._catching_up = 4 * window  # hops left before lateness counts (again)
        self._cost: dict[str, float] = {}

    def after_hop(self, index: int, input_position: int) -> str | None:
        """Record whether hop `index` came late; returns the model dropped, if any."""
        processor = self.processor
        for model, seconds in processor.compute_seconds.items():
            self._cost[model] = 0.8 * self._cost.get(model, seconds) + 0.2 * seconds
        late = input_position > index * processor.timing.hop + self.latency
        if self._catching_up:
            self._catching_up = 0 if not late else self._catching_up - 1
            return None
        self._recent = [*self._recent[-(self.window - 1) :], late]
        running = [m for m in processor.models if m not in processor.dropped]
        mine = [m for m in processor.estimators if m not in processor.dropped]
        if sum(self._recent) < self.late_limit or len(running) < 2 or not mine:
            return None
        victim = max(mine, key=lambda m: self._cost.get(m, 0.0))
        processor.dropped.add(victim)
        self._recent = []
        self._catching_up = 4 * self.window
        return victim


def dropped_mask(models: tuple[str, ...], dropped) -> float:
    return float(sum(1 << i for i, m in enumerate(models) if m in dropped))


def dropped_models(models: tuple[str, ...], mask: float) -> tuple[str, ...]:
    """The models a dropped mask names, in `models`' order."""
    return tuple(m for i, m in enumerate(models) if int(mask) >> i & 1)


def _serve(processor, in_ring, out_ring, control, stats, degrader: Degrader, parent: int) -> None:
    hop = processor.timing.hop
    consumed = 0
    idle_since = time.monotonic()
    block = np.zeros((8192, 2), dtype=np.float32)
    frame = np.zeros((hop, len(SOURCES) + 1, 2), dtype=np.float32)
    # an engine that died cannot set CTRL_STOP: its end re-parents this process
    while not control[CTRL_STOP] and os.getppid() == parent:
        stats[STAT_HEARTBEAT] = time.monotonic()
        available = in_ring.written - consumed
        if available > in_ring.capacity:
            stats[STAT_OVERRUNS] += 1  # we fell a whole ring behind: skip to what is still there
            consumed = in_ring.written - in_ring.capacity
            available = in_ring.capacity
        if available <= 0:
            # a first hop after seconds of idle (other processes loading, the device opening, a pause)
            # is slow: keep the networks warm until input comes
            if time.monotonic() - idle_since > KEEP_WARM_SECONDS:
                processor.exercise()
                idle_since = time.monotonic()
            time.sleep(0.002)
            continue
        idle_since = time.monotonic()
        n = min(available, block.shape[0])
        in_ring.read_into(block[:n], consumed)
        consumed += n
        in_ring.mark_read(consumed)
        processor.dropped.update(dropped_models(processor.models, control[CTRL_DROPPED]))
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
            # decide on what every process has dropped by now (a hop takes long enough for another
            # lane to drop one meanwhile, and two stale decisions could stop the last model)
            processor.dropped.update(dropped_models(processor.models, control[CTRL_DROPPED]))
            if degrader.after_hop(h.index, in_ring.written):
                control[CTRL_DROPPED] = dropped_mask(processor.models, processor.dropped)
