"""Writing stems atomically: each stem streams into a hidden temporary file beside its final name
and is renamed into place only when the whole track succeeded. On any failure (a full disk, an
interrupted run, a bad input detected late) every temporary file is removed: nothing partial is
ever left behind, and existing files are only replaced at the final rename.

A run killed with SIGKILL cannot clean up, so the next run that writes the same stems removes the
temporary files such a run left (and reports them). A temporary file's name carries the ID of the
process writing it, so a run never removes the files of another one still writing there.
"""

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.errors import OutputError

FORMATS = ("wav", "flac")
BIT_DEPTHS = ("16", "24", "float")
_SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "float": "FLOAT"}


@dataclass(frozen=True)
class AudioFormat:
    """File format of written stems."""

    container: str = "wav"
    bits: str = "24"
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self):
        if self.container not in FORMATS:
            raise OutputError(f"format must be one of {', '.join(FORMATS)}, not {self.container!r}")
        if self.bits not in BIT_DEPTHS:
            raise OutputError(f"bit depth must be one of {', '.join(BIT_DEPTHS)}, not {self.bits!r}")
        if self.container == "flac" and self.bits == "float":
            raise OutputError("FLAC cannot store float samples; use --bits 16 or 24, or --format wav")

    @property
    def subtype(self) -> str:
        return _SUBTYPES[self.bits]

    @property
    def clips(self) -> bool:
        return self.bits != "float"


def make_readable(path: Path) -> None:
    """Give a temporary file (created 0600 by mkstemp) the permissions a normal new file gets."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def ensure_writable_folder(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the output folder ({exc.strerror})") from exc
    if not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".dannasep-probe-"):
            pass
    except OSError as exc:
        raise OutputError(f"{folder}: the output folder is not writable ({exc.strerror})") from exc


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_stale_partials(final: Path) -> list[Path]:
    """Remove the temporary files of `final` left by runs that no longer exist; returns them.

    Names are `.{final.name}.{pid}-{random}.partial` (older versions: `.{final.name}.{random}.partial`,
    always stale now); those of a process still running are kept.
    """
    removed = []
    for tmp in final.parent.glob(f".{final.name}.*.partial"):
        owner = tmp.name[len(final.name) + 2 :].split("-", 1)[0]
        if owner.isdigit() and (int(owner) == os.getpid() or _writer_alive(int(owner))):
            continue
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def stale_note(removed: list[Path]) -> list[str]:
    """The line telling the user which leftovers were removed (none when nothing was)."""
    if not removed:
        return []
    names = ", ".join(p.name for p in removed)
    return [f"removed {len(removed)} unfinished file(s) left by an interrupted earlier run: {names}"]


class StemWriter:
    """Streams (stems, channels, frames) blocks at 44.1 kHz into one file per stem.

    Use as a context manager: leaving the block normally commits (renames into place), leaving it
    with an exception removes every temporary file.
    """

    def __init__(self, targets: dict[str, Path], fmt: AudioFormat, channels: int = 2):
        self.targets = dict(targets)
        self.fmt = fmt
        self.clipped = dict.fromkeys(self.targets, 0)
        self._temps: dict[str, Path] = {}
        self._files: dict[str, sf.SoundFile] = {}
        self._resamplers: dict[str, soxr.ResampleStream] = {}
        self._channels = channels
        self._committed = False
        self.removed_stale: list[Path] = []
        """temporary files of interrupted earlier runs, removed on entry"""

    def __enter__(self) -> "StemWriter":
        try:
            for stem, final in self.targets.items():
                final.parent.mkdir(parents=True, exist_ok=True)
                self.removed_stale += remove_stale_partials(final)
                fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.{os.getpid()}-", suffix=".partial", dir=final.parent)
                os.close(fd)
                self._temps[stem] = Path(tmp)
                self._files[stem] = sf.SoundFile(
                    tmp,
                    "w",
                    self.fmt.sample_rate,
                    self._channels,
                    subtype=self.fmt.subtype,
                    format=self.fmt.container.upper(),
                )
                if self.fmt.sample_rate != SAMPLE_RATE:
                    self._resamplers[stem] = soxr.ResampleStream(
                        SAMPLE_RATE, self.fmt.sample_rate, self._channels, dtype="float32", quality="VHQ"
                    )
        except OSError as exc:
            self.abort()
            raise OutputError(f"{final}: cannot write ({exc.strerror or exc})") from exc
        return self

    def write(self, stem: str, block: np.ndarray, last: bool = False) -> None:
        """Append `block` (channels, frames) float32 at 44.1 kHz to `stem`'s file."""
        frames = np.ascontiguousarray(block.T, dtype=np.float32)
        if stem in self._resamplers:
            frames = self._resamplers[stem].resample_chunk(frames, last=last)
        if self.fmt.clips:
            over = np.abs(frames) > 1.0
            if over.any():
                self.clipped[stem] += int(over.sum())
                frames = np.clip(frames, -1.0, 1.0)
        try:
            self._files[stem].write(frames)
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            raise OutputError(f"{self.targets[stem]}: writing failed ({exc}); nothing was kept") from exc

    def write_block(self, block: np.ndarray, stems: tuple[str, ...], last: bool = False) -> None:
        """Append a (stems, channels, frames) block; `stems` names its first axis."""
        for i, stem in enumerate(stems):
            if stem in self.targets:
                self.write(stem, block[i], last=last)

    def _close_files(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def commit(self) -> list[Path]:
        try:
            self._close_files()
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            self.abort()
            raise OutputError(f"finishing the stem files failed ({exc}); nothing was kept") from exc
        for stem, tmp in self._temps.items():
            make_readable(tmp)
            os.replace(tmp, self.targets[stem])
        self._temps.clear()
        self._committed = True
        return list(self.targets.values())

    def abort(self) -> None:
        try:
            self._close_files()
        except Exception:
            self._files.clear()
        for tmp in self._temps.values():
            tmp.unlink(missing_ok=True)
        self._temps.clear()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
