"""The offline path's file-to-file run in a fresh process (ram_worker): its peak memory and speed.
Kept free of torch, so that a process measured itself (render-ahead's audio process) can call it."""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from dannasep.engine.lifeline import subprocess_options


@dataclass(frozen=True)
class FileRun:
    """A file-to-file separation in a fresh process."""

    peak_ram_mb: float
    rtf: float


def offline_file_run(path: Path, preset: str, size: str, threads: int, precision: str, out: Path) -> FileRun:
    """Peak RSS and RTF of `dannasep separate`'s path in a subprocess (ram_worker), file to file."""
    cmd = [sys.executable, "-m", "dannasep.engine.bench.ram_worker", str(path), preset, size, str(threads)]
    cmd += [precision, str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **subprocess_options())
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    if done.returncode != 0 or not {"peak_rss_kib", "rtf"} <= values.keys():
        raise RuntimeError(f"RAM worker failed for {preset} at {size} size: {done.stderr[-500:]}")
    return FileRun(int(values["peak_rss_kib"]) / 1024.0, float(values["rtf"]))
