"""Subprocess of `dannasep bench peers`: one side of one case, in a fresh process so that its
peak RAM is its own.

    python -m dannasep.engine.bench.peers_worker '<WorkerJob as JSON>'

Prints ``seconds=S`` per timed run, then ``peak_rss_kib=N``: this process's high-water mark
(VmHWM), read from /proc, because wait4's ru_maxrss would carry the forked parent's peak.
The address space is capped at the job's memory limit, so that a whole-track recipe that outgrows
the machine fails here (exit status OUT_OF_MEMORY, still printing its peak so far) instead of
waking the kernel's OOM killer, which may pick another process.
"""

import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from dannasep.engine.audio.writer import AudioFormat
from dannasep.engine.bench import PEER_CASES as CASES
from dannasep.engine.bench.ram_worker import own_peak_rss_kib
from dannasep.engine.bench.seeded_models import build_ours
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.fusion.presets import FusionPreset, load_preset, make_preset, preset_to_toml
from dannasep.engine.lifeline import hold_from_environment
from dannasep.engine.models.cpu_inference import prepare_for_cpu_inference
from dannasep.engine.separation.estimators import StemEstimator
from dannasep.engine.separation.naming import OutputNaming
from dannasep.engine.separation.runner import separate_array
from dannasep.engine.separation.separator import LoadedModel, Separator, SeparatorConfig

SIDES = ("ours", "peer")
MODES = ("time", "file")
OUT_OF_MEMORY = 3
"""Exit status of a worker whose allocation failed under its memory limit."""
WARMUP_SECONDS = 5.0
"""Both sides separate this much of the input once before the clock starts (first-call set-up of
the LSTM and convolution kernels takes seconds)."""


@dataclass(frozen=True)
class WorkerJob:
    """One side of one case.

    mode "time": `source` is a (2, N) float32 .npy; after a warm-up, `runs` timed separations in
    memory; the last one's (4, 2, N) stems are saved to `output` (.npy).
    mode "file": `source` is an audio file; one separation from it to stem files in the folder
    `output`, as each side's command-line tool does.
    """

    case: str
    side: str
    size: str
    mode: str
    source: str
    output: str
    runs: int = 1
    threads: int = 2
    memory_limit_mb: int | None = None
    """Cap on the address space (RLIMIT_AS); None for none."""

    def __post_init__(self):
        for name, value, allowed in (
            ("case", self.case, CASES),
            ("side", self.side, SIDES),
            ("mode", self.mode, MODES),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "WorkerJob":
        return cls(**json.loads(text))


def case_preset(case: str) -> FusionPreset:
    """The paper preset for the fusion; the model alone otherwise."""
    return load_preset("paper") if case == "fusion" else make_preset(case, {case: [1.0] * len(SOURCES)})


class ModelLoader:
    """Builds our seeded networks on demand and keeps the seconds it spent, which the timing leaves
    out: the authors' recipe loads each model inside its loop, while ours loads all before."""

    def __init__(self, size: str):
        self.size = size
        self.seconds = 0.0

    def __call__(self, architecture: str) -> torch.nn.Module:
        start = time.perf_counter()
        model = build_ours(architecture, self.size)
        self.seconds += time.perf_counter() - start
        return model


def our_estimators(case: str, size: str) -> dict[str, StemEstimator]:
    return {arch: StemEstimator(prepare_for_cpu_inference(build_ours(arch, size))) for arch in case_preset(case).models}


def peer_separator(case: str, loader: ModelLoader) -> Callable[[np.ndarray], np.ndarray]:
    """The peer's recipe as (2, N) float32 -> (4, 2, N) float32."""
    # imported only here, so that our side's peak RAM does not include the peers' packages (~70 MB)
    from dannasep.engine.bench.peer_models import asteroid_xumx_peer, demucs_v2_peer
    from dannasep.engine.bench.peer_recipes import asteroid_xumx, authors_fusion, demucs_apply_model

    if case == "demucs_v2":
        model = demucs_v2_peer(loader("demucs_v2"))
        return lambda mix: demucs_apply_model(model, mix)
    if case == "xumx":
        model = asteroid_xumx_peer(loader("xumx"))
        return lambda mix: asteroid_xumx(model, mix)
    weights = case_preset(case).weights
    return lambda mix: authors_fusion(loader, weights, mix)


def run_timed(job: WorkerJob) -> None:
    mix = np.load(job.source)
    loader = ModelLoader(job.size)
    if job.side == "ours":
        estimators, preset = our_estimators(job.case, job.size), case_preset(job.case)
        separate = partial(separate_array, estimators=estimators, preset=preset)
    else:
        separate = peer_separator(job.case, loader)
    separate(mix[:, : round(WARMUP_SECONDS * SAMPLE_RATE)])
    for _ in range(job.runs):
        loader.seconds = 0.0
        start = time.perf_counter()
        stems = separate(mix)
        print(f"seconds={time.perf_counter() - start - loader.seconds}", flush=True)
    np.save(job.output, stems)


class _BenchSeparator(Separator):
    """Our file-to-file separator with the bench's seeded models instead of checkpoints."""

    def _load(self, arch: str) -> LoadedModel:
        return LoadedModel(StemEstimator(prepare_for_cpu_inference(build_ours(arch, self.config.size))), "bench", False)


def run_file(job: WorkerJob) -> None:
    out = Path(job.output)
    if job.side == "ours":
        with tempfile.TemporaryDirectory() as tmp:
            preset = Path(tmp) / f"{job.case}.toml"
            preset.write_text(preset_to_toml(case_preset(job.case)))
            separator = _BenchSeparator(SeparatorConfig(preset=preset, size=job.size))
            start = time.perf_counter()
            separator.separate_file(job.source, OutputNaming(out, overwrite=True), AudioFormat("wav", "float"))
            elapsed = time.perf_counter() - start
    else:
        loader = ModelLoader(job.size)
        separate = peer_separator(job.case, loader)
        start = time.perf_counter()
        mix, _ = sf.read(job.source, dtype="float32", always_2d=True)
        stems = separate(np.ascontiguousarray(mix.T))
        out.mkdir(parents=True, exist_ok=True)
        for source, stem in zip(SOURCES, stems, strict=True):
            sf.write(out / f"{source}.wav", stem.T, SAMPLE_RATE, subtype="FLOAT")
        elapsed = time.perf_counter() - start - loader.seconds
    print(f"seconds={elapsed}", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m dannasep.engine.bench.peers_worker '<WorkerJob JSON>'", file=sys.stderr)
        return 2
    hold_from_environment()
    job = WorkerJob.from_json(argv[0])
    torch.set_num_threads(job.threads)
    if job.memory_limit_mb is not None:
        limit = job.memory_limit_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        (run_timed if job.mode == "time" else run_file)(job)
    except (MemoryError, RuntimeError) as exc:
        # numpy raises MemoryError, torch's allocator a RuntimeError saying "can't allocate memory"
        if isinstance(exc, RuntimeError) and "allocate memory" not in str(exc):
            raise
        print(f"peak_rss_kib={own_peak_rss_kib()}")
        print(f"out of memory under the {job.memory_limit_mb} MB limit", file=sys.stderr)
        return OUT_OF_MEMORY
    print(f"peak_rss_kib={own_peak_rss_kib()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
