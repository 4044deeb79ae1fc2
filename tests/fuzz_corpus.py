"""A seeded corpus of malformed and awkward audio files, made on demand (no binary fixtures in git),
and a runner that puts each through `dannasep separate` in a subprocess under a 3 GB address-space
limit and a 60 s wall limit.

    python tests/fuzz_corpus.py     # prints the table: file, outcome, peak RSS, time

Each case says what it must do: "stems" (separate, correctly), "error" (one sentence naming the
file, non-zero exit) or "either" (a damaged file a decoder may still read to its end).
"""

import ctypes
import os
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SEED = 2026
RATE = 44100
SECONDS = 0.6
ADDRESS_SPACE_LIMIT = 3 * 2**30
WALL_LIMIT = 60.0


@dataclass(frozen=True)
class Case:
    name: str
    expect: str  # "stems", "error" or "either"
    make: Callable[[Path, np.random.Generator], Path]
    """Writes the file (or folder) under the given folder and returns its path."""
    frames: int | None = None
    """Frames at 44.1 kHz the stems must have, when the expected length is known."""
    unreadable: bool = False
    """Run the command without the capabilities that let root read any file."""


def _signal(rng: np.random.Generator, frames: int, channels: int = 2) -> np.ndarray:
    t = np.arange(frames) / RATE
    tone = 0.2 * np.sin(2 * np.pi * 220 * t)[:, None]
    return (tone + rng.uniform(-0.1, 0.1, (frames, channels))).astype(np.float32)


def _written(name: str, fmt: str, subtype: str, rate: int = RATE, channels: int = 2, frames: int | None = None):
    def make(folder: Path, rng: np.random.Generator) -> Path:
        path = folder / name
        n = frames if frames is not None else int(SECONDS * rate)
        sf.write(str(path), _signal(rng, n, channels), rate, format=fmt, subtype=subtype)
        return path

    return make


def _edited(base: Callable, edit: Callable[[bytearray, np.random.Generator], bytes]):
    """A file made by `base`, then rewritten byte-wise by `edit`."""

    def make(folder: Path, rng: np.random.Generator) -> Path:
        path = base(folder, rng)
        path.write_bytes(bytes(edit(bytearray(path.read_bytes()), rng)))
        return path

    return make


def _cut(fraction: float | None = None, keep: int | None = None):
    def edit(raw: bytearray, _rng) -> bytes:
        return raw[: keep if keep is not None else int(len(raw) * fraction)]

    return edit


def _put(offset_of: Callable[[bytearray], int], fmt: str, value: int):
    def edit(raw: bytearray, _rng) -> bytes:
        at = offset_of(raw)
        raw[at : at + struct.calcsize(fmt)] = struct.pack(fmt, value)
        return raw

    return edit


def _after(tag: bytes, skip: int = 0) -> Callable[[bytearray], int]:
    return lambda raw: raw.index(tag) + len(tag) + skip


def _garbage_after(header_end: Callable[[bytearray], int]):
    def edit(raw: bytearray, rng: np.random.Generator) -> bytes:
        at = header_end(raw)
        return raw[:at] + rng.integers(0, 256, len(raw) - at, dtype=np.uint8).tobytes()

    return edit


def _flac_total(total: int):
    def edit(raw: bytearray, _rng) -> bytes:
        at = 8 + 10  # "fLaC", the block header, then rate/channels/bits/total samples in 8 bytes
        packed = int.from_bytes(raw[at : at + 8], "big") & ~((1 << 36) - 1) | total
        raw[at : at + 8] = packed.to_bytes(8, "big")
        return raw

    return edit


def _flac_header_end(raw: bytearray) -> int:
    """The end of the metadata blocks (where the first audio frame starts)."""
    at = 4
    while True:
        last, length = raw[at] & 0x80, int.from_bytes(raw[at + 1 : at + 4], "big")
        at += 4 + length
        if last:
            return at


def _ogg_third_page(raw: bytearray) -> int:
    """Vorbis' three header packets end before the third page (libvorbis' usual layout)."""
    first = raw.index(b"OggS", 1)
    return raw.index(b"OggS", first + 1)


def _wav(name: str, **kw):
    return _written(name, "WAV", kw.pop("subtype", "PCM_16"), **kw)


def _non_finite(value: float):
    def make(folder: Path, rng: np.random.Generator) -> Path:
        data = _signal(rng, int(SECONDS * RATE))
        data[int(0.3 * RATE), 1] = value
        path = folder / f"float-{'nan' if np.isnan(value) else 'inf'}.wav"
        sf.write(str(path), data, RATE, subtype="FLOAT")
        return path

    return make


def _folder(folder: Path, _rng) -> Path:
    path = folder / "a-folder.wav"
    path.mkdir()
    return path


def _empty(folder: Path, _rng) -> Path:
    path = folder / "empty.flac"
    path.write_bytes(b"")
    return path


def _noise_bytes(folder: Path, rng: np.random.Generator) -> Path:
    path = folder / "random-bytes.mp3"
    path.write_bytes(rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    return path


def _fifo(folder: Path, _rng) -> Path:
    path = folder / "a-pipe.wav"
    os.mkfifo(path)  # opening it for reading would block until someone writes
    return path


def _unreadable(folder: Path, rng: np.random.Generator) -> Path:
    path = _wav("no-permission.wav")(folder, rng)
    path.chmod(0)
    return path


N = int(SECONDS * RATE)
wav, rf64, aiff = _wav("base.wav"), _written("base.rf64", "RF64", "PCM_16"), _written("base.aiff", "AIFF", "PCM_16")
flac, ogg, mp3 = (
    _written("base.flac", "FLAC", "PCM_16"),
    _written("base.ogg", "OGG", "VORBIS"),
    _written("base.mp3", "MP3", "MPEG_LAYER_III"),
)


def _renamed(make: Callable, name: str) -> Callable:
    def renamed(folder: Path, rng: np.random.Generator) -> Path:
        path = make(folder, rng)
        return path.rename(folder / name)

    return renamed


def _case(name: str, expect: str, base: Callable, edit=None, frames: int | None = None, **kw) -> Case:
    make = _edited(base, edit) if edit else base
    return Case(name, expect, _renamed(make, name), frames, **kw)


CASES: tuple[Case, ...] = (
    # controls: the corpus' base files, intact
    _case("ok.wav", "stems", wav, frames=N),
    _case("ok.flac", "stems", flac, frames=N),
    _case("ok.ogg", "stems", ogg, frames=N),
    _case("ok.mp3", "either", mp3),  # an MP3's decoder delay and padding change the length
    _case("ok.aiff", "stems", aiff, frames=N),
    _case("ok.rf64", "stems", rf64, frames=N),
    # WAV
    _case("wav-cut-at-12.wav", "error", wav, _cut(keep=12)),
    _case("wav-header-only.wav", "error", wav, _cut(keep=44)),
    _case("wav-cut-at-half.wav", "error", wav, _cut(0.5)),
    _case("wav-cut-at-99pc.wav", "error", wav, _cut(0.99)),
    _case("wav-data-size-zero.wav", "stems", wav, _put(_after(b"data"), "<I", 0), frames=N),
    _case("wav-data-size-huge.wav", "error", wav, _put(_after(b"data"), "<I", 0xFFFFFFF0)),
    _case("wav-riff-size-zero.wav", "either", wav, _put(lambda _: 4, "<I", 0)),
    _case("wav-channels-zero.wav", "error", wav, _put(_after(b"fmt ", 6), "<H", 0)),
    _case("wav-garbage-after-header.wav", "stems", wav, _garbage_after(_after(b"data", 4)), frames=N),
    _case("wav-one-sample.wav", "stems", _wav("x.wav", frames=1), frames=1),
    _case("wav-8-channels.wav", "stems", _wav("x.wav", channels=8), frames=N),
    _case("wav-8khz.wav", "stems", _wav("x.wav", rate=8000), frames=N),
    _case("wav-192khz.wav", "stems", _wav("x.wav", rate=192000), frames=N),
    _case("float-nan.wav", "error", _non_finite(np.nan)),
    _case("float-inf.wav", "error", _non_finite(np.inf)),
    # RF64
    _case("rf64-cut-at-half.rf64", "error", rf64, _cut(0.5)),
    _case("rf64-header-only.rf64", "error", rf64, _cut(keep=100)),
    _case("rf64-data-size-huge.rf64", "error", rf64, _put(_after(b"ds64", 12), "<Q", 1 << 60)),
    _case("rf64-data-size-zero.rf64", "either", rf64, _put(_after(b"ds64", 12), "<Q", 0)),
    # AIFF
    _case("aiff-cut-at-half.aiff", "error", aiff, _cut(0.5)),
    _case("aiff-header-only.aiff", "error", aiff, _cut(keep=54)),
    _case("aiff-frames-huge.aiff", "either", aiff, _put(_after(b"COMM", 6), ">I", 0x7FFFFFF0)),
    _case("aiff-frames-zero.aiff", "either", aiff, _put(_after(b"COMM", 6), ">I", 0)),
    # FLAC
    _case("flac-length-unknown.flac", "stems", flac, _flac_total(0), frames=N),
    _case("flac-first-86-bytes.flac", "error", flac, _cut(keep=86)),
    _case("flac-cut-at-half.flac", "error", flac, _cut(0.5)),
    _case("flac-length-huge.flac", "error", flac, _flac_total((1 << 36) - 1)),
    _case("flac-length-short.flac", "stems", flac, _flac_total(1000), frames=N),
    _case("flac-garbage-after-header.flac", "error", flac, _garbage_after(_flac_header_end)),
    # OGG/Vorbis
    _case("ogg-first-100-bytes.ogg", "error", ogg, _cut(keep=100)),
    _case("ogg-cut-at-half.ogg", "either", ogg, _cut(0.5)),
    _case("ogg-garbage-after-header.ogg", "error", ogg, _garbage_after(_ogg_third_page)),
    # MP3
    _case("mp3-first-200-bytes.mp3", "error", mp3, _cut(keep=200)),
    _case("mp3-cut-at-half.mp3", "either", mp3, _cut(0.5)),
    _case("mp3-xing-frames-huge.mp3", "either", mp3, _put(_after(b"Xing", 4), ">I", 0x7FFFFFF0)),
    _case("mp3-garbage-after-header.mp3", "either", mp3, _garbage_after(_after(b"Xing", 200))),
    # not audio at all, or not a file
    _case("random-bytes.mp3", "error", _noise_bytes),
    _case("empty.flac", "error", _empty),
    _case("a-folder.wav", "error", _folder),
    _case("a-pipe.wav", "error", _fifo),
    _case("no-permission.wav", "error", _unreadable, unreadable=True),
)


def make_corpus(folder: Path) -> dict[str, Path]:
    """Write every case's file under `folder` (seeded: the same bytes every time)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for index, case in enumerate(CASES):
        work = folder / f"{index:02d}"
        work.mkdir()
        paths[case.name] = case.make(work, np.random.default_rng(SEED + index))
    return paths


# -- running one file through `dannasep separate` -------------------------------------------------
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, PR_CAPBSET_DROP = 1, 2, 24


def _limits(unreadable: bool) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
        if unreadable:
            # Tests run as root, whom file permissions do not stop: without these two capabilities
            # in the bounding set, the exec'd command is a root that mode 000 really keeps out.
            libc = ctypes.CDLL(None, use_errno=True)
            for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
                libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)

    return apply


@dataclass
class Outcome:
    case: Case
    returncode: int | None  # None: killed at the wall limit
    stdout: str
    stderr: str
    peak_rss_mb: float
    seconds: float
    left_in_output: list[str]
    stems: dict[str, tuple[int, int, int, bool]]
    """stem -> (sample rate, channels, frames, all finite) of each file written"""

    @property
    def summary(self) -> str:
        if self.returncode is None:
            return "TIMEOUT"
        if self.returncode == 0:
            frames = {f for _, _, f, _ in self.stems.values()}
            return f"stems ({', '.join(str(f) for f in sorted(frames))} frames)"
        return f"exit {self.returncode}: {self.stderr.strip().splitlines()[-1] if self.stderr.strip() else ''}"


def separate(case: Case, path: Path, out: Path, preset: Path) -> Outcome:
    """Run `dannasep separate` on one file; wait4 gives the child's own peak RSS."""
    command = [sys.executable, "-m", "dannasep.engine.cli", "separate", "--quiet", str(path), "-o", str(out)]
    command += ["--preset", str(preset), "--stems", "vocals", "bass", "--threads", "1"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.monotonic()
        proc = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, text=True, env=env, preexec_fn=_limits(case.unreadable)
        )
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() - started > WALL_LIMIT:
                os.kill(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                returncode = None
                break
            time.sleep(0.02)
        proc.returncode = returncode if returncode is not None else -9  # reaped here, not by Popen
        seconds = time.monotonic() - started
        stdout.seek(0)
        stderr.seek(0)
        out_text, err_text = stdout.read(), stderr.read()
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []
    stems = {}
    if returncode == 0:
        for file in out.rglob("*.wav"):
            data, rate = sf.read(str(file), dtype="float32", always_2d=True)
            stems[file.stem] = (rate, data.shape[1], data.shape[0], bool(np.isfinite(data).all()))
    return Outcome(case, returncode, out_text, err_text, usage.ru_maxrss / 1024.0, seconds, left, stems)


def demucs_preset(folder: Path) -> Path:
    """One light model: the cheapest way through the whole pipeline."""
    path = folder / "demucs-only.toml"
    path.write_text("[weights.demucs]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n")
    return path


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dannasep-fuzz-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        paths = make_corpus(root / "corpus")
        preset = demucs_preset(root)
        print("| file | expected | outcome | peak RSS | time |")
        print("|---|---|---|---:|---:|")
        for case in CASES:
            result = separate(case, paths[case.name], root / "out" / case.name, preset)
            print(
                f"| {case.name} | {case.expect} | {result.summary} | {result.peak_rss_mb:.0f} MB "
                f"| {result.seconds:.1f} s |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
