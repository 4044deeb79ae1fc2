"""Inference lanes: the live engine's inference processes, each with its own output ring and
statistics.

One lane (the default) runs every enabled model in one process on `threads` threads, one model
after another. With several lanes the models are split between processes that run side by side,
a thread each, and the audio callback sums their stems (lane 0 also carries the dry mix). On a
2-core machine two lanes put the U-Net on one core and X-UMX + Demucs on the other, so no model
hands its small operations between threads (README, "Measurements behind the code").
"""

import multiprocessing
import time
from dataclasses import dataclass, replace
from multiprocessing import shared_memory

import numpy as np

from dannasep.engine.constants import SOURCES
from dannasep.engine.errors import DannaSepError
from dannasep.engine.lifeline import Lifeline
from dannasep.engine.streaming.rings import SharedRing
from dannasep.engine.streaming.worker import (
    CTRL_STOP,
    STAT_COMPUTE_MAX,
    STAT_COMPUTE_TOTAL,
    STAT_HOPS,
    STAT_OVERRUNS,
    STAT_SIZE,
    WorkerSpec,
    run_worker,
)

RELATIVE_COST = {"unet": 3.0, "xumx": 1.5, "demucs": 1.0, "demucs_v2": 1.0}
"""Compute per live window of the shipped live models, relative to Demucs (README, "Measurements
behind the code"); unknown architectures count as Demucs."""


def split_models(models: tuple[str, ...], lanes: int) -> tuple[tuple[str, ...], ...]:
    """Spread `models` over at most `lanes` lanes, costliest first onto the least loaded lane;
    each lane keeps the preset's order. No lane is empty."""
    if lanes < 1:
        raise ValueError(f"the number of inference processes must be at least 1, got {lanes}")
    loads = [0.0] * min(lanes, len(models))
    members: list[list[str]] = [[] for _ in loads]
    for model in sorted(models, key=lambda m: -RELATIVE_COST.get(m, 1.0)):
        lane = loads.index(min(loads))
        loads[lane] += RELATIVE_COST.get(model, 1.0)
        members[lane].append(model)
    return tuple(tuple(m for m in models if m in lane) for lane in members)


class InferenceLane:
    """One inference process, its output ring ((capacity, 5, 2): four stems and the dry mix) and
    its statistics array."""

    def __init__(self, runs: tuple[str, ...], capacity: int):
        self.runs = runs
        self.out_ring = SharedRing.create(capacity, (len(SOURCES) + 1, 2))
        self._stats_shm = shared_memory.SharedMemory(create=True, size=8 * STAT_SIZE)
        self.stats = np.ndarray((STAT_SIZE,), np.float64, self._stats_shm.buf)
        self.stats[:] = 0.0
        self.process = None
        self._pipe = None

    def start(self, spec: WorkerSpec) -> None:
        """Spawn the process; `wait_ready` collects its answer (lanes load their models in parallel)."""
        spec = replace(
            spec, runs=self.runs, out_ring=self.out_ring.name, stats=self._stats_shm.name, lifeline=Lifeline.here()
        )
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child = ctx.Pipe()
        name = f"dannasep-inference-{'+'.join(self.runs)}"
        self.process = ctx.Process(target=run_worker, args=(spec, child), name=name, daemon=True)
        self.process.start()

    def wait_ready(self, timeout: float) -> dict:
        if not self._pipe.poll(timeout):
            raise DannaSepError(f"the inference process did not start within {timeout:.0f} s")
        kind, info = self._pipe.recv()
        if kind != "ready":
            raise DannaSepError(f"the inference process failed to start: {info.splitlines()[0]}")
        return info

    def stop(self, control: np.ndarray | None) -> None:
        """Ask the process to stop (through the shared control array), then make sure it did: a
        process is always joined, never left behind (SIGKILL as the last resort)."""
        if self.process is None:
            return
        if control is not None:
            control[CTRL_STOP] = 1.0
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.process = None

    def close(self) -> None:
        self.out_ring.close()
        self.stats = None  # drop the view before closing the mapping
        self._stats_shm.close()
        self._stats_shm.unlink()


def wait_written(lanes: "list[InferenceLane]", samples: int, timeout: float) -> None:
    """Wait until every lane has written its stems up to stream position `samples`."""
    deadline = time.monotonic() + timeout
    for lane in lanes:
        while lane.out_ring.written < samples:
            if not lane.process.is_alive():
                code = lane.process.exitcode
                raise DannaSepError(f"the inference process ({'+'.join(lane.runs)}) stopped (exit code {code})")
            if time.monotonic() > deadline:
                raise DannaSepError(f"the inference processes computed no hop within {timeout:.0f} s")
            time.sleep(0.002)


@dataclass(frozen=True)
class LaneTotals:
    """What the lanes did together: they run side by side, so the slowest one sets the pace."""

    hops: int  # hops every lane has finished
    mean_compute: float  # seconds per hop, the slowest lane's mean
    worst_compute: float  # seconds, the longest hop of any lane
    overruns: int  # hops that finished after their deadline, all lanes

    @staticmethod
    def of(lanes: "list[InferenceLane]") -> "LaneTotals":
        stats = [lane.stats for lane in lanes] or [np.zeros(STAT_SIZE)]
        return LaneTotals(
            hops=min(int(s[STAT_HOPS]) for s in stats),
            mean_compute=max(s[STAT_COMPUTE_TOTAL] / s[STAT_HOPS] if s[STAT_HOPS] else 0.0 for s in stats),
            worst_compute=max(float(s[STAT_COMPUTE_MAX]) for s in stats),
            overruns=sum(int(s[STAT_OVERRUNS]) for s in stats),
        )
