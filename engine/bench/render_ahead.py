"""Render-ahead cases of `dannasep bench live`: a file played through `RenderAheadEngine` on a JACK
server with its dummy driver (period = block), per preset, network size and file length.

Each case starts the engine on the file (looping, so the playhead never runs out), plays for the
requested time, and seeks to `seeks` random places spread evenly over that time. It reads: first
sound (from the audio callback's start to the first block played), each seek's wait for sound
(median and max), the lead the render held ahead of the playhead while sound played (min and
median, sampled twice a second; right after a seek it is what the quick chunks made), under-runs
(the engine's: a block the cache did not hold once sound had started; JACK's: late cycles),
models dropped (only after a fallback to streaming), whether it fell back, the render's real-time
factor, the CPU of the audio and render processes together (100 % = one core), their peak resident
memory (VmHWM; the audio process is this one, so its peak includes earlier cases: they run from
the shortest file up), the peak of both together (their proportional set sizes summed, sampled
with the lead, so the song and the cache both map count once), the size of the stem cache and,
with `compare_offline`, the peak of `dannasep separate`'s path on the same file (a subprocess).
"""

import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.bench.file_run import offline_file_run
from dannasep.engine.bench.live import peak_rss_mb, process_cpu_seconds
from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.control.commands import Seek
from dannasep.engine.cpu_features import resolve_precision
from dannasep.engine.fusion.presets import load_preset
from dannasep.engine.renderahead.engine import RenderAheadEngine
from dannasep.engine.renderahead.settings import RenderAheadSettings
from dannasep.engine.streaming.config import LiveConfig

STATUS_EVERY = 0.5


@dataclass(frozen=True)
class RenderBenchConfig:
    seconds: float = 60.0
    """Played per case (wall clock)."""
    presets: tuple[str, ...] = ("paper",)
    sizes: tuple[str, ...] = ("live", "paper")
    """Network sizes; a size with no checkpoint in the weights folder runs seeded random networks."""
    files: tuple[float, ...] = (60.0, 600.0)
    """Lengths (seconds) of the generated files played."""
    blocksize: int = 256
    seeks: int = 10
    render: RenderAheadSettings = field(default_factory=RenderAheadSettings)
    weights_dir: Path | None = None
    precision: str = "auto"
    threads: int = 2
    seed: int = 0
    """Of the seek targets."""
    compare_offline: bool = False
    """Also measure the offline path's peak RAM on each file (same preset, size and threads)."""


@dataclass
class RenderBenchRow:
    preset: str
    size: str
    file_seconds: float
    blocksize: int
    first_sound_ms: float | None
    seek_ms: tuple[float, float] | None
    """Median and max."""
    lead_seconds: tuple[float, float] | None
    """Min and median while sound played."""
    underruns: int
    device_underflows: int
    dropped: tuple[str, ...]
    mode: str
    fallback: str
    fallback_gap_ms: float | None
    """After a fallback: the silence at the hand-over to streaming."""
    render_rtf: float
    cpu_percent: float
    ram_mb: tuple[float, float]
    """Peak resident memory of the audio process and of the render process."""
    ram_together_mb: float
    """Peak of both processes' proportional set sizes summed."""
    offline_ram_mb: float | None
    """Peak resident memory of the offline path on the same file (None: not measured)."""
    cache_mb: float
    seconds: float


def seek_plan(seconds: float, file_seconds: float, seeks: int, seed: int) -> list[tuple[float, float]]:
    """(when, where) in seconds: `seeks` seeks spread evenly over `seconds` of playing, each to a
    random place at least 5 s before the file's end."""
    rng = np.random.default_rng(seed)
    targets = rng.uniform(0.0, max(0.0, file_seconds - 5.0), seeks)
    return [(seconds * (i + 1) / (seeks + 1), float(t)) for i, t in enumerate(targets)]


def run_render_case(config: RenderBenchConfig, preset: str, size: str, source: Path) -> RenderBenchRow:
    live = LiveConfig(
        source=source,
        blocksize=config.blocksize,
        preset=preset,
        weights_dir=config.weights_dir,
        size=size,
        precision=config.precision,
        threads=config.threads,
        loop=True,
    )
    engine = RenderAheadEngine(live, config.render)
    file_seconds = engine.audio.shape[0] / SAMPLE_RATE
    plan = seek_plan(config.seconds, file_seconds, config.seeks, config.seed)
    with jack_server(name="dannasep-bench", playback_ports=2, period=config.blocksize):
        engine.start()
        try:
            pids = (os.getpid(), engine.render_pid)
            cpu_before = {pid: process_cpu_seconds(pid) for pid in pids}
            started = time.monotonic()
            together = 0.0
            while (elapsed := time.monotonic() - started) < config.seconds:
                while plan and plan[0][0] <= elapsed:
                    engine.control.apply([Seek(plan.pop(0)[1])], source="bench")
                engine.check_health()
                engine.status()  # samples the lead
                if engine.render_pid is not None:
                    together = max(together, pss_mb(os.getpid()) + pss_mb(engine.render_pid))
                time.sleep(STATUS_EVERY)
            wall = time.monotonic() - started
            status = engine.status()
            # the render process ends on a fallback to streaming: its numbers are then unknown
            alive = [pid for pid in pids if pid == os.getpid() or pid == engine.render_pid]
            cpu = sum(process_cpu_seconds(pid) - cpu_before[pid] for pid in alive)
            ram = tuple(peak_rss_mb(pid) if pid in alive else float("nan") for pid in pids)
            leads = engine.lead_summary()
        finally:
            engine.stop()
    return RenderBenchRow(
        preset=preset,
        size=size,
        file_seconds=file_seconds,
        blocksize=config.blocksize,
        first_sound_ms=status.first_sound_ms,
        seek_ms=(statistics.median(status.seek_ms), max(status.seek_ms)) if status.seek_ms else None,
        lead_seconds=leads,
        underruns=status.underruns,
        device_underflows=status.device_underflows,
        dropped=status.dropped,
        mode=status.mode,
        fallback=status.fallback,
        fallback_gap_ms=status.fallback_gap_ms,
        render_rtf=status.render_rtf,
        cpu_percent=100 * cpu / wall,
        ram_mb=ram,
        ram_together_mb=together,
        offline_ram_mb=_offline_peak(config, preset, size, source) if config.compare_offline else None,
        cache_mb=status.cache_mb,
        seconds=wall,
    )


def pss_mb(pid: int) -> float:
    """Proportional set size: shared pages divided among the processes that map them."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _offline_peak(config: RenderBenchConfig, preset: str, size: str, source: Path) -> float:
    fusion = load_preset(preset)
    recipe = str(fusion.path) if fusion.path else ",".join(fusion.models)
    with tempfile.TemporaryDirectory(prefix="dannasep-bench-") as out:
        run = offline_file_run(source, recipe, size, config.threads, config.precision, Path(out))
    return run.peak_ram_mb


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def format_render_table(rows: list[RenderBenchRow], config: RenderBenchConfig, machine: str) -> str:
    lines = [
        f"Render-ahead playback through JACK (dummy driver, period = block), {config.seconds:.0f} s played per "
        f"case with {config.seeks} random seeks; lead {config.render.lead:.0f} s, cache cap "
        f"{config.render.cache_mb:.0f} MB; {config.threads} render threads, {resolve_precision(config.precision)}. "
        f"Machine: {machine}.",
        "",
        "| preset | size | file | block | first sound | seek median / max | lead min / median | "
        "under-runs engine / JACK | dropped | mode | render RTF | CPU | peak RAM audio / render / together "
        "| offline peak RAM | cache |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        seek = "-" if r.seek_ms is None else f"{r.seek_ms[0]:.0f} / {r.seek_ms[1]:.0f} ms"
        lead = "-" if r.lead_seconds is None else f"{r.lead_seconds[0]:.1f} / {r.lead_seconds[1]:.1f} s"
        gap = "" if r.fallback_gap_ms is None else f"; hand-over gap {r.fallback_gap_ms:.0f} ms"
        mode = r.mode if not r.fallback else f"stream ({r.fallback}{gap})"
        lines.append(
            f"| {r.preset} | {r.size} | {r.file_seconds:.0f} s | {r.blocksize} | {_ms(r.first_sound_ms)} "
            f"| {seek} | {lead} | {r.underruns} / {r.device_underflows} | {', '.join(r.dropped) or '-'} "
            f"| {mode} | {r.render_rtf:.2f} | {r.cpu_percent:.0f} % "
            f"| {r.ram_mb[0]:.0f} / {r.ram_mb[1]:.0f} / {r.ram_together_mb:.0f} MB "
            f"| {'-' if r.offline_ram_mb is None else f'{r.offline_ram_mb:.0f} MB'} | {r.cache_mb:.0f} MB |"
        )
    return "\n".join(lines)
