"""Live benchmark: the whole streaming engine playing through a JACK server with its dummy driver,
per fusion preset and block size (render-ahead playback of files: bench/render_ahead.py).

Each case starts its own JACK server with the period equal to the block size (as a producer's
session would be set up), plays the input through `LiveEngine` for the requested time, and reads:
the worker's real-time factor (compute time / hop duration, mean and max), the end-to-end latency
the engine reports (input to stems, fixed for the configuration), the audio callback's duration
(median, p99, max over every callback), under-runs (the engine's: a block whose stems were not
ready; JACK's: cycles the non-realtime server itself reported late), models dropped, the CPU used
by the audio process and the inference processes together (100 % = one core), and the peak
resident memory of the audio process and of the inference processes together (VmHWM).
"""

import gc
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.cpu_features import resolve_precision
from dannasep.engine.streaming.config import LiveConfig
from dannasep.engine.streaming.engine import LiveEngine
from dannasep.engine.streaming.timing import LiveOptions

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class LiveBenchConfig:
    seconds: float = 60.0
    presets: tuple[str, ...] = ("paper", "fast")
    blocksizes: tuple[int, ...] = (256, 512)
    options: LiveOptions = field(default_factory=LiveOptions)
    """Timing and processes; what is unset comes from each preset's [live] table."""
    source: Path | None = None
    """A file to play; None plays generated noise (compute does not depend on the content)."""
    weights_dir: Path | None = None
    precision: str = "auto"
    runtimes: tuple[str, ...] = ("auto",)
    """What computes the networks (engine.streaming.runtimes); one case each."""
    threads: int = 2


@dataclass
class LiveBenchRow:
    preset: str
    blocksize: int
    runtime: str
    hop_ms: float
    safety_ms: float
    processes: int
    latency_ms: float
    worker_rtf: float
    worker_rtf_max: float
    callback_ms: tuple[float, float, float]
    """Median, 99th percentile and maximum duration of one audio callback."""
    underruns: int
    device_underflows: int
    dropped: tuple[str, ...]
    """Models the engine stopped running because inference fell behind."""
    cpu_percent: float
    ram_mb: tuple[float, float]
    """Peak resident memory of the audio process and of the inference process."""
    seconds: float


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def write_noise(path: Path, seconds: float) -> Path:
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 2, subtype="PCM_16") as f:
        remaining = int(seconds * SAMPLE_RATE)
        while remaining > 0:
            n = min(remaining, 10 * SAMPLE_RATE)
            f.write((0.1 * rng.standard_normal((n, 2))).astype(np.float32))
            remaining -= n
    return path


def run_case(config: LiveBenchConfig, preset: str, blocksize: int, runtime: str, source: Path) -> LiveBenchRow:
    timing, processes = config.options.resolve(preset)
    live = LiveConfig(
        source=source,
        blocksize=blocksize,
        preset=preset,
        weights_dir=config.weights_dir,
        precision=config.precision,
        runtime=runtime,
        threads=config.threads,
        processes=processes,
        timing=timing,
        loop=True,
    )
    with jack_server(name="dannasep-bench", playback_ports=2, period=blocksize):
        engine = LiveEngine(live).start()
        try:
            workers = engine.status().worker_pids
            cpu_before = sum(process_cpu_seconds(pid) for pid in (os.getpid(), *workers))
            started = time.monotonic()
            while time.monotonic() - started < config.seconds:
                engine.wait(0.5)  # raises if the device or the inference process went away
            wall = time.monotonic() - started
            status = engine.status()
            cpu = sum(process_cpu_seconds(pid) for pid in (os.getpid(), *workers)) - cpu_before
            ram = (peak_rss_mb(os.getpid()), sum(peak_rss_mb(pid) for pid in workers))
            callbacks = 1000 * engine.callback.durations()
        finally:
            engine.stop()
    return LiveBenchRow(
        preset=preset,
        blocksize=blocksize,
        runtime=engine.runtime,
        hop_ms=1000 * timing.hop / SAMPLE_RATE,
        safety_ms=1000 * timing.safety / SAMPLE_RATE,
        processes=processes,
        latency_ms=1000 * status.latency_samples / SAMPLE_RATE,
        worker_rtf=status.worker_rtf,
        worker_rtf_max=status.worker_rtf_max,
        callback_ms=(
            float(np.median(callbacks)),
            float(np.percentile(callbacks, 99)),
            float(callbacks.max()),
        ),
        underruns=status.underruns,
        device_underflows=status.device_underflows,
        dropped=status.dropped,
        cpu_percent=100 * cpu / wall,
        ram_mb=ram,
        seconds=wall,
    )


def format_live_table(rows: list[LiveBenchRow], config: LiveBenchConfig, machine: str) -> str:
    asked = {k: v for k, v in vars(config.options).items() if v is not None}
    given = ", ".join(f"{k.removesuffix('_seconds')} {v}" for k, v in asked.items()) or "none"
    lines = [
        f"Live engine through JACK (dummy driver, period = block), {rows[0].seconds:.0f} s per case; timing from "
        f"each preset's [live] table and the defaults, options given: {given}; {config.threads} inference threads, "
        f"{resolve_precision(config.precision)} under torch. Machine: {machine}.",
        "",
        "| preset | block | runtime | hop / safety | processes | latency | worker RTF mean / max "
        "| callback median / p99 / max | under-runs engine / JACK | dropped | CPU | peak RAM audio / inference |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        med, p99, worst = r.callback_ms
        lines.append(
            f"| {r.preset} | {r.blocksize} | {r.runtime} | {r.hop_ms:.0f} / {r.safety_ms:.0f} ms | {r.processes} "
            f"| {r.latency_ms:.0f} ms | {r.worker_rtf:.2f} / {r.worker_rtf_max:.2f} "
            f"| {med:.3f} / {p99:.3f} / {worst:.3f} ms | {r.underruns} / {r.device_underflows} "
            f"| {', '.join(r.dropped) or '-'} "
            f"| {r.cpu_percent:.0f} % | {r.ram_mb[0]:.0f} / {r.ram_mb[1]:.0f} MB |"
        )
    return "\n".join(lines)


def run_live_bench(config: LiveBenchConfig, render=None, log=print) -> str:
    """The streaming cases (none when config.presets is empty), then the render-ahead ones of
    `render` (a RenderBenchConfig; None: none); one table each."""
    from dannasep.engine.bench.offline import machine_description
    from dannasep.engine.bench.render_ahead import format_render_table, run_render_case

    tables = []
    with tempfile.TemporaryDirectory(prefix="dannasep-bench-live-") as tmp:
        cases = [(p, b, r) for p in config.presets for b in config.blocksizes for r in config.runtimes]
        if cases:
            rows = []
            source = config.source or write_noise(Path(tmp) / "noise.wav", min(config.seconds, 60.0) + 5.0)
            for i, (preset, blocksize, runtime) in enumerate(cases, 1):
                log(
                    f"[{i}/{len(cases)}] streaming, preset {preset}, block {blocksize}, runtime {runtime}: "
                    f"playing {config.seconds:.0f} s"
                )
                rows.append(run_case(config, preset, blocksize, runtime, source))
            tables.append(format_live_table(rows, config, machine_description()))
        if render is not None:
            rows = []
            cases = [(f, p, s) for f in sorted(render.files) for p in render.presets for s in render.sizes]
            for i, (length, preset, size) in enumerate(cases, 1):
                source = Path(tmp) / f"noise-{length:.0f}s.wav"
                if not source.exists():
                    write_noise(source, length)
                log(
                    f"[{i}/{len(cases)}] render-ahead, preset {preset} at {size} size, {length:.0f}-s file, "
                    f"block {render.blocksize}: playing {render.seconds:.0f} s with {render.seeks} seeks"
                )
                rows.append(run_render_case(render, preset, size, source))
                gc.collect()  # the case's engine and its cache mapping, before the next case measures memory
            tables.append(format_render_table(rows, render, machine_description()))
    return "\n\n".join(tables)
