"""`dannasep bench peers`: our engine against the peers' own inference code, side by side, on the
same input with identical (seeded random) weights, so that only the inference recipe differs.

Cases (engine/bench/peer_recipes.py has the peers' recipes):

* demucs_v2: our Demucs v2 through our chunked pipeline vs demucs 2.0.3's ``apply_model``
  (40 s chunks, 25 % overlap);
* xumx: our X-UMX through our pipeline (chunks with context, torch Wiener filter) vs asteroid's
  X-UMX recipe (whole track, norbert's Wiener filter in complex128, scipy's iSTFT);
* fusion: the paper preset through our pipeline vs the authors' ``danna_sep`` recipe rebuilt
  around our models (whole track per model, numpy Wiener filter in complex128, waveform fusion).

Every side runs in a fresh subprocess (engine/bench/peers_worker.py), so its peak RAM (VmHWM) is
its own. The timed runs separate a `seconds`-long input in memory; the RAM runs separate a
`ram_minutes`-long file to stem files, as each side's command-line tool does.
"""

import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from dannasep.engine.bench.offline import machine_description
from dannasep.engine.bench.peers_worker import CASES, OUT_OF_MEMORY, WARMUP_SECONDS, WorkerJob
from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE
from dannasep.engine.errors import DannaSepError
from dannasep.engine.lifeline import subprocess_options

PEERS = {
    "demucs_v2": ("our Demucs v2, chunked with context (demucs_v2-paper.toml)", "demucs 2.0.3 apply_model(split=True)"),
    "xumx": ("our X-UMX, chunked, torch Wiener filter", "asteroid X-UMX eval.py: whole track, norbert complex128"),
    "fusion": ("preset paper: U-Net + Demucs + X-UMX, chunked", "authors' danna_sep recipe, whole track per model"),
}
"""case -> (what our side runs, what the peer side runs)."""
MIN_SECONDS = 3.0
"""Shorter inputs would time mostly set-up, and very short ones fall below the networks' minimum
lengths (Demucs' receptive field, the U-Net's six poolings) in the whole-track recipes."""
AUTHORS_CASE = "fusion"
"""The case whose peer is the authors' whole-track recipe (the RAM target compares with it)."""


@dataclass(frozen=True)
class PeersBenchConfig:
    seconds: float = 60.0
    """Length of the timed input, rounded down to whole STFT hops (see `bench_length`)."""
    ram_minutes: float = 5.0
    """Length of the file for the RAM runs; 0 skips them."""
    cases: tuple[str, ...] = CASES
    ram_cases: tuple[str, ...] = (AUTHORS_CASE,)
    size: str = "paper"
    runs: int = 1
    threads: int = 2
    network_seconds: float = 10.0
    """Excerpt on which the two networks are compared in one call."""
    memory_limit_gb: float | None = None
    """Address-space cap of every worker; None: three quarters of this machine's RAM."""

    def __post_init__(self):
        unknown = sorted(set(self.cases + self.ram_cases) - set(CASES))
        if unknown:
            raise DannaSepError(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
        if self.seconds < MIN_SECONDS or self.runs < 1 or self.ram_minutes < 0:
            raise DannaSepError(f"need --seconds >= {MIN_SECONDS:g}, --runs >= 1 and --ram-minutes >= 0")
        if self.memory_limit_gb is not None and self.memory_limit_gb <= 0:
            raise DannaSepError("--memory-limit-gb must be positive")

    @property
    def memory_limit_mb(self) -> int:
        if self.memory_limit_gb is not None:
            return round(self.memory_limit_gb * 1024)
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 3 // 4 // 2**20


@dataclass(frozen=True)
class SideResult:
    """What one worker reported: seconds of each timed run and its peak RAM, or why it failed."""

    seconds: tuple[float, ...] = ()
    peak_mb: float = math.nan
    error: str | None = None
    out_of_memory: bool = False
    """An allocation failed under the memory limit: peak_mb is then the peak reached before, a
    lower bound of what the side needs."""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else math.nan


@dataclass(frozen=True)
class Agreement:
    """Ours against the peer: max |ours - peer|, max |peer|, and the SDR of ours with the peer as
    reference, 10·log10(Σ peer² / Σ (ours - peer)²), for the worst stem."""

    max_abs: float
    peer_max: float
    sdr_db: float

    @property
    def relative(self) -> float:
        return self.max_abs / self.peer_max if self.peer_max > 0 else math.nan


@dataclass(frozen=True)
class CaseRow:
    case: str
    ours: SideResult
    peer: SideResult
    network: float | None
    """max relative difference of the two networks on the same excerpt; None for the fusion."""
    outputs: Agreement | None


@dataclass(frozen=True)
class RamRow:
    case: str
    ours: SideResult
    peer: SideResult


@dataclass(frozen=True)
class PeersResult:
    rows: list[CaseRow]
    ram_rows: list[RamRow]
    loads: str
    """The machine's load averages at start and end (other work skews both sides alike)."""


def bench_length(seconds: float) -> int:
    """Samples of the timed input: whole STFT hops, so that every recipe returns every sample."""
    return int(seconds * SAMPLE_RATE) // HOP_LENGTH * HOP_LENGTH


def bench_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """(2, bench_length) float32 noise at 0.1 RMS (the compute does not depend on the content)."""
    return (0.1 * np.random.default_rng(seed).standard_normal((2, bench_length(seconds)))).astype(np.float32)


def write_noise_file(path: Path, minutes: float) -> Path:
    """A stereo 16-bit WAV of noise, written 10 s at a time to keep this process small."""
    rng = np.random.default_rng(1)
    remaining = round(minutes * 60 * SAMPLE_RATE)
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 2, subtype="PCM_16") as f:
        while remaining > 0:
            block = min(remaining, 10 * SAMPLE_RATE)
            f.write((0.1 * rng.standard_normal((block, 2))).astype(np.float32))
            remaining -= block
    return path


def run_worker(job: WorkerJob) -> SideResult:
    cmd = [sys.executable, "-m", "dannasep.engine.bench.peers_worker", job.to_json()]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **subprocess_options())
    reported = [line.split("=", 1) for line in done.stdout.splitlines() if "=" in line]
    seconds = tuple(float(value) for key, value in reported if key == "seconds")
    peaks = [int(value) for key, value in reported if key == "peak_rss_kib"]
    if done.returncode == 0 and peaks:
        return SideResult(seconds, peaks[-1] / 1024.0)
    if done.returncode == OUT_OF_MEMORY and peaks:
        return SideResult((), peaks[-1] / 1024.0, f"out of memory under the {job.memory_limit_mb} MB limit", True)
    if done.returncode == -9:
        return SideResult(error="killed (SIGKILL: out of memory?)")
    last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return SideResult(error=last[-200:])


def compare_outputs(ours: np.ndarray, peer: np.ndarray) -> Agreement:
    """Both (4, 2, N)."""
    diff = ours.astype(np.float64) - peer
    noise = (diff**2).sum(axis=(1, 2))
    signal = (peer.astype(np.float64) ** 2).sum(axis=(1, 2))
    with np.errstate(divide="ignore"):
        sdr = 10 * np.log10(signal / noise)
    return Agreement(float(np.abs(diff).max()), float(np.abs(peer).max()), float(sdr.min()))


def network_check(case: str, config: PeersBenchConfig, mix: np.ndarray) -> float | None:
    from dannasep.engine.bench.peer_models import network_difference  # imports the peers' packages

    return network_difference(case, config.size, mix[:, : round(config.network_seconds * SAMPLE_RATE)])


def run_sides(
    case: str, mode: str, config: PeersBenchConfig, source: Path, workdir: Path, log: Callable[[str], None]
) -> dict[str, SideResult]:
    """Both sides of `case` in `mode` ("time" or "file", see WorkerJob); outputs go to workdir."""
    results = {}
    for side, what in zip(("ours", "peer"), PEERS[case], strict=True):
        log(f"    {side}: {what}{', file to file' if mode == 'file' else ''} ...")
        output = workdir / (f"{case}-{side}.npy" if mode == "time" else f"{case}-{side}")
        runs = config.runs if mode == "time" else 1
        job = WorkerJob(
            case, side, config.size, mode, str(source), str(output), runs, config.threads, config.memory_limit_mb
        )
        results[side] = run_worker(job)
        log(f"      {describe(results[side])}")
    return results


def time_case(case: str, config: PeersBenchConfig, source: Path, workdir: Path, log: Callable[[str], None]) -> CaseRow:
    results = run_sides(case, "time", config, source, workdir, log)
    log(f"    networks on the first {config.network_seconds:g} s, one call each ...")
    network = network_check(case, config, np.load(source))
    outputs = None
    if results["ours"].error is None and results["peer"].error is None:
        outputs = compare_outputs(np.load(workdir / f"{case}-ours.npy"), np.load(workdir / f"{case}-peer.npy"))
    return CaseRow(case, results["ours"], results["peer"], network, outputs)


def describe(result: SideResult) -> str:
    if result.error:
        return f"failed: {result.error}"
    return f"{result.median:.1f} s, peak RAM {result.peak_mb:.0f} MB"


def _seconds(result: SideResult) -> str:
    return "failed" if result.error else f"{result.median:.1f}"


def _ram(result: SideResult) -> str:
    if result.out_of_memory:
        return f"> {result.peak_mb:.0f} MB (out of memory)"
    return "failed" if result.error else f"{result.peak_mb:.0f} MB"


def _ratio(numerator: float, denominator: float) -> str:
    value = numerator / denominator if denominator > 0 else math.nan
    return "–" if math.isnan(value) else f"{value:.2f}"


def _ram_ratio(row: RamRow) -> str:
    """Peer / ours; a lower bound when only the peer ran out of memory."""
    if row.ours.error:
        return "–"
    if row.peer.out_of_memory:
        return f"> {_ratio(row.peer.peak_mb, row.ours.peak_mb)}"
    return "–" if row.peer.error else _ratio(row.peer.peak_mb, row.ours.peak_mb)


def format_report(config: PeersBenchConfig, result: PeersResult) -> str:
    rows, ram_rows = result.rows, result.ram_rows
    seconds = bench_length(config.seconds) / SAMPLE_RATE
    lines = [
        f"Against the peers, {seconds:.1f} s stereo noise, {config.size}-size models with identical seeded random "
        f"weights on both sides, {config.threads} threads, fp32, median of {config.runs} run(s) after a "
        f"{WARMUP_SECONDS:g} s warm-up, each side in its own process. "
        f"Machine: {machine_description()}; {result.loads}.",
        "",
        "| case | ours s | peer s | speed peer/ours | ours peak RAM | peer peak RAM | networks max rel diff "
        "| outputs max abs diff (rel) | outputs SDR, worst stem |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        network = "same modules" if r.network is None else f"{r.network:.1e}"
        if r.outputs is None:
            diff = sdr = "–"
        else:
            diff, sdr = f"{r.outputs.max_abs:.1e} ({r.outputs.relative:.1e})", f"{r.outputs.sdr_db:.1f} dB"
        lines.append(
            f"| {r.case} | {_seconds(r.ours)} | {_seconds(r.peer)} | {_ratio(r.peer.median, r.ours.median)} "
            f"| {_ram(r.ours)} | {_ram(r.peer)} | {network} | {diff} | {sdr} |"
        )
    lines += ["", *(f"* {case}: ours = {ours}; peer = {peer}." for case, (ours, peer) in PEERS.items())]
    if ram_rows:
        lines += [
            "",
            f"Peak RAM separating a {config.ram_minutes:g}-minute 16-bit WAV into four float WAV stems, file to "
            f"file, one cold run per side (file reading and writing included), every process capped at "
            f"{config.memory_limit_mb / 1024:.0f} GB of address space.",
            "",
            "| case | ours peak RAM | peer peak RAM | RAM peer/ours | ours s (cold) | peer s (cold) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in ram_rows:
            lines.append(
                f"| {r.case} | {_ram(r.ours)} | {_ram(r.peer)} | {_ram_ratio(r)} "
                f"| {_seconds(r.ours)} | {_seconds(r.peer)} |"
            )
    lines += ["", *targets(config, rows, ram_rows)]
    return "\n".join(lines)


def targets(config: PeersBenchConfig, rows: list[CaseRow], ram_rows: list[RamRow]) -> list[str]:
    """One line per target of issue 7: at least as fast as every peer; at most half the peak RAM of
    the authors' whole-track recipe."""
    speeds = {r.case: r.peer.median / r.ours.median for r in rows if not (r.ours.error or r.peer.error)}
    if speeds:
        slowest = min(speeds, key=speeds.get)
        met = "met" if speeds[slowest] >= 1 else "not met"
        speed = (
            f"Speed target (ours at least as fast as every peer): {met}; "
            f"lowest ratio {speeds[slowest]:.2f} ({slowest})."
        )
    else:
        speed = "Speed target: not measured."
    authors = [
        r
        for r in ram_rows
        if r.case == AUTHORS_CASE and r.ours.error is None and (r.peer.error is None or r.peer.out_of_memory)
    ]
    if authors:
        row = authors[0]
        ratio = row.peer.peak_mb / row.ours.peak_mb
        # with the peer out of memory, its true peak is higher still: a low ratio decides nothing
        met = "met" if ratio >= 2 else "undecided" if row.peer.out_of_memory else "not met"
        ram = (
            f"RAM target (at most half the authors' whole-track peak on a {config.ram_minutes:g}-minute file): "
            f"{met}; theirs / ours = {_ram_ratio(row)}."
        )
    else:
        ram = "RAM target: not measured."
    return [speed, ram]


def load_averages() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def measure_peers(config: PeersBenchConfig, log: Callable[[str], None] = print) -> PeersResult:
    torch.set_num_threads(config.threads)  # for the network checks in this process
    start_load = load_averages()
    rows, ram_rows = [], []
    with tempfile.TemporaryDirectory(prefix="dannasep-peers-") as tmp:
        workdir = Path(tmp)
        source = workdir / "input.npy"
        np.save(source, bench_signal(config.seconds))
        for i, case in enumerate(config.cases, 1):
            log(f"[{i}/{len(config.cases)}] {case}: {config.seconds:g} s input, {config.runs} timed run(s) per side")
            rows.append(time_case(case, config, source, workdir, log))
        ram_cases = [c for c in config.ram_cases if config.ram_minutes > 0]
        if ram_cases:
            song = write_noise_file(workdir / "song.wav", config.ram_minutes)
            for i, case in enumerate(ram_cases, 1):
                log(f"[RAM {i}/{len(ram_cases)}] {case}: {config.ram_minutes:g}-minute file")
                results = run_sides(case, "file", config, song, workdir, log)
                ram_rows.append(RamRow(case, results["ours"], results["peer"]))
    return PeersResult(rows, ram_rows, f"at start {start_load}, at end {load_averages()}")


def run_peers_bench(config: PeersBenchConfig, log: Callable[[str], None] = print) -> str:
    """Measure and return the Markdown report."""
    result = measure_peers(config, log)
    return format_report(config, result)
