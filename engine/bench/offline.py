"""Offline benchmark: real-time factor of each model and each fused preset, and peak RAM on long
inputs, all through the same chunked pipeline `dannasep separate` uses (Wiener filter included).

RTF = wall time / audio duration, median of several runs after a warm-up, in one process with a
fixed thread count. The long-file runs separate a generated 1- or 10-minute file from disk to disk
in a fresh subprocess: their peak RAM (maximum resident set, so Python, torch and the models
included) and their RTF, which is the steady rate on whole songs (chunk overlaps and context
included; a short timed input fits in one chunk and pays neither).
"""

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from dannasep.engine.allocator import preloaded_library
from dannasep.engine.bench.file_run import FileRun, offline_file_run
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.fusion.presets import FusionPreset, load_preset, make_preset
from dannasep.engine.models.configs import load_model_config
from dannasep.engine.models.cpu_inference import prepare_for_cpu_inference, resolve_precision
from dannasep.engine.separation.estimators import StemEstimator
from dannasep.engine.separation.runner import separate_array


@dataclass(frozen=True)
class BenchCase:
    label: str
    preset: FusionPreset
    size: str


@dataclass
class BenchRow:
    label: str
    size: str
    parameters: int
    rtf: float
    rtf_runs: list[float]
    file_runs: dict[int, "FileRun"]


def model_cases(sizes: tuple[str, ...]) -> list[BenchCase]:
    cases = []
    for size in sizes:
        for arch in ("xumx", "unet", "demucs", "demucs_v2"):
            try:
                load_model_config(arch, size)
            except Exception:
                continue
            cases.append(BenchCase(f"{arch} alone", make_preset(arch, {arch: [1.0] * len(SOURCES)}), size))
    return cases


def preset_cases(presets: tuple[str, ...], sizes: tuple[str, ...]) -> list[BenchCase]:
    return [BenchCase(f"preset {name}", load_preset(name), size) for size in sizes for name in presets]


def build_estimators(preset: FusionPreset, size: str, precision: str) -> dict[str, StemEstimator]:
    estimators = {}
    for arch in preset.models:
        torch.manual_seed(0)
        model = prepare_for_cpu_inference(load_model_config(arch, size).build())
        estimators[arch] = StemEstimator(model, precision=precision)
    return estimators


def time_case(case: BenchCase, mix: np.ndarray, runs: int, precision: str) -> BenchRow:
    estimators = build_estimators(case.preset, case.size, precision)
    separate_array(mix[:, : SAMPLE_RATE * 12], estimators, case.preset)  # warm-up
    seconds = mix.shape[-1] / SAMPLE_RATE
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        separate_array(mix, estimators, case.preset)
        times.append((time.perf_counter() - start) / seconds)
    params = sum(e.model.num_parameters() for e in estimators.values())
    return BenchRow(case.label, case.size, params, statistics.median(times), times, {})


def file_run(case: BenchCase, minutes: int, threads: int, precision: str, workdir: Path) -> FileRun:
    """Peak RSS and RTF of a subprocess separating a `minutes`-long stereo file on disk."""
    path = workdir / f"noise-{minutes}min.wav"
    if not path.exists():
        rng = np.random.default_rng(minutes)
        with sf.SoundFile(str(path), "w", SAMPLE_RATE, 2, subtype="PCM_16") as f:
            for _ in range(minutes * 6):
                f.write((0.1 * rng.standard_normal((SAMPLE_RATE * 10, 2))).astype(np.float32))
    preset_arg = str(case.preset.path) if case.preset.path else ",".join(case.preset.models)
    return offline_file_run(path, preset_arg, case.size, threads, precision, workdir / "out")


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    allocator = "tcmalloc" if preloaded_library() else "glibc malloc"
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, torch {torch.__version__}, allocator {allocator}"


def format_table(rows: list[BenchRow], seconds: float, threads: int, precision: str, ram_minutes) -> str:
    lines = [
        f"Offline separation, {seconds:.0f} s stereo input, {threads} threads, {precision}, "
        f"median RTF (lower is faster; < 1 is faster than real time). Machine: {machine_description()}.",
        "",
        "| case | size | parameters | RTF (median) | runs | "
        + " | ".join(f"{m} min file: peak RAM / RTF" for m in ram_minutes)
        + " |",
        "|---|---|---:|---:|---|" + "---:|" * len(ram_minutes),
    ]
    for r in rows:
        files = r.file_runs
        ram = " | ".join(
            f"{files[m].peak_ram_mb:.0f} MB / {files[m].rtf:.3f}" if m in files else "–" for m in ram_minutes
        )
        runs = ", ".join(f"{t:.3f}" for t in r.rtf_runs)
        lines.append(f"| {r.label} | {r.size} | {r.parameters / 1e6:.1f} M | {r.rtf:.3f} | {runs} | {ram} |")
    return "\n".join(lines)


def run_offline_bench(
    seconds: float,
    runs: int,
    sizes: tuple[str, ...],
    presets: tuple[str, ...],
    ram_minutes: tuple[int, ...],
    ram_presets: tuple[str, ...],
    threads: int,
    precision: str,
    log=print,
) -> str:
    precision = resolve_precision(precision)
    rng = np.random.default_rng(0)
    mix = (0.1 * rng.standard_normal((2, int(seconds * SAMPLE_RATE)))).astype(np.float32)
    rows = []
    cases = model_cases(sizes) + preset_cases(presets, sizes)
    for i, case in enumerate(cases, 1):
        log(f"[{i}/{len(cases)}] timing {case.label} ({case.size})")
        row = time_case(case, mix, runs, precision)
        if case.label.removeprefix("preset ") in ram_presets and case.label.startswith("preset"):
            with tempfile.TemporaryDirectory(prefix="dannasep-bench-") as tmp:
                for minutes in ram_minutes:
                    log(f"    {minutes} min file to file (peak RAM, RTF)")
                    row.file_runs[minutes] = file_run(case, minutes, threads, precision, Path(tmp))
        rows.append(row)
    return format_table(rows, seconds, threads, precision, ram_minutes)
