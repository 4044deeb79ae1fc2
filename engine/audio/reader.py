"""Reading any audio file soundfile understands as 44.1 kHz stereo float32, in ranges.

Validation happens before any work starts: missing, empty, non-audio, truncated files and
NaN/Inf samples each get one sentence naming the file. Files at 44.1 kHz are read in place; other
rates are resampled once (soxr, streamed block by block) into a temporary float file, so memory
never depends on the length of the song.
"""

import math
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from dannasep.engine.audio.channels import CHANNEL_POLICIES, describe_mapping, to_stereo
from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.errors import AudioInputError

BLOCK_FRAMES = 1 << 18  # frames per read while scanning or converting (~6 s at 44.1 kHz)


@dataclass(frozen=True)
class AudioFileInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def _declared_wav_data_bytes(path: Path) -> tuple[int, int] | None:
    """(declared, present) byte counts of a RIFF/WAVE file's data chunk, or None if not WAV."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] not in (b"RIFF", b"RIFX") or header[8:12] != b"WAVE":
            return None
        endian = "<" if header[:4] == b"RIFF" else ">"
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack(endian + "4sI", f.read(8))
            if chunk_id == b"data":
                return chunk_size, size - offset - 8
            offset += 8 + chunk_size + (chunk_size & 1)
    return None


def inspect_audio(path: str | Path) -> AudioFileInfo:
    """Check that `path` is a readable, non-empty, complete audio file and describe it."""
    path = Path(path)
    if not path.exists():
        raise AudioInputError(f"{path}: no such file")
    if path.is_dir():
        raise AudioInputError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioInputError(f"{path}: the file is empty (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioInputError(f"{path}: not an audio file soundfile can read ({exc})") from exc
    if info.frames <= 0:
        raise AudioInputError(f"{path}: contains no audio samples")
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioInputError(f"{path}: invalid header ({info.samplerate} Hz, {info.channels} channels)")
    sizes = _declared_wav_data_bytes(path)
    if sizes is not None and sizes[0] != 0xFFFFFFFF and sizes[1] < sizes[0]:
        raise AudioInputError(
            f"{path}: truncated: the header declares {sizes[0]} bytes of audio but only {sizes[1]} "
            "are present (an interrupted copy or download?)"
        )
    return AudioFileInfo(path, info.samplerate, info.channels, info.frames, info.format, info.subtype)


def _check_finite(block: np.ndarray, path: Path, first_frame: int, sample_rate: int) -> None:
    if not np.isfinite(block).all():
        bad = int(np.argwhere(~np.isfinite(block))[0][0]) + first_frame
        raise AudioInputError(
            f"{path}: sample {bad} (at {bad / sample_rate:.2f} s) is NaN or infinite; the file is corrupt"
        )


def _is_float_subtype(subtype: str) -> bool:
    return subtype in ("FLOAT", "DOUBLE")


@dataclass
class AudioInput:
    """An input file presented as 44.1 kHz stereo float32 (use as a context manager).

    Attributes:
        length: frames at 44.1 kHz.
        notes: what was done to the input (resampled, downmixed...), for the user.
    """

    info: AudioFileInfo
    channel_policy: str = "downmix"
    workdir: Path | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.channel_policy not in CHANNEL_POLICIES:
            raise ValueError(f"channel policy must be one of {CHANNEL_POLICIES}")
        if self.info.channels > 2 and self.channel_policy == "error":
            raise AudioInputError(
                f"{self.info.path}: has {self.info.channels} channels; Danna-Sep separates stereo. "
                "Use --channels downmix or --channels first-two"
            )
        note = describe_mapping(self.info.channels, self.channel_policy)
        if note:
            self.notes.append(note)
        self._converted: Path | None = None
        self._file: sf.SoundFile | None = None
        if self.info.sample_rate == SAMPLE_RATE:
            self.length = self.info.frames
            if _is_float_subtype(self.info.subtype):
                self._scan_for_non_finite()
        else:
            self.length = math.ceil(self.info.frames * SAMPLE_RATE / self.info.sample_rate)
            self.notes.append(f"{self.info.sample_rate} Hz input: resampled to {SAMPLE_RATE} Hz (soxr VHQ)")
            self._convert()

    @classmethod
    def open(cls, path: str | Path, channel_policy: str = "downmix", workdir: Path | None = None) -> "AudioInput":
        return cls(inspect_audio(path), channel_policy, workdir)

    def _scan_for_non_finite(self) -> None:
        position = 0
        for block in sf.blocks(str(self.info.path), blocksize=BLOCK_FRAMES, always_2d=True, dtype="float32"):
            _check_finite(block, self.info.path, position, self.info.sample_rate)
            position += block.shape[0]

    def _convert(self) -> None:
        """Resample the whole file once into a temporary 44.1 kHz stereo float file, streamed."""
        fd, tmp = tempfile.mkstemp(prefix="dannasep-resampled-", suffix=".wav", dir=self.workdir)
        os.close(fd)
        self._converted = Path(tmp)
        resampler = soxr.ResampleStream(self.info.sample_rate, SAMPLE_RATE, 2, dtype="float32", quality="VHQ")
        written = 0
        try:
            with sf.SoundFile(tmp, "w", SAMPLE_RATE, 2, subtype="FLOAT", format="RF64") as out:
                position = 0
                blocks = sf.blocks(str(self.info.path), blocksize=BLOCK_FRAMES, always_2d=True, dtype="float32")
                for block in blocks:
                    _check_finite(block, self.info.path, position, self.info.sample_rate)
                    position += block.shape[0]
                    stereo = to_stereo(block, self.channel_policy)
                    chunk = resampler.resample_chunk(np.ascontiguousarray(stereo.T))
                    out.write(chunk)
                    written += chunk.shape[0]
                tail = resampler.resample_chunk(np.zeros((0, 2), np.float32), last=True)
                out.write(tail)
                written += tail.shape[0]
        except BaseException:
            self.close()
            raise
        self.length = written

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop) as (2, stop - start) float32; zeros outside the file."""
        out = np.zeros((2, stop - start), dtype=np.float32)
        lo, hi = max(start, 0), min(stop, self.length)
        if hi <= lo:
            return out
        if self._file is None:
            self._file = sf.SoundFile(str(self._converted or self.info.path))
        self._file.seek(lo)
        block = self._file.read(hi - lo, dtype="float32", always_2d=True)
        block = to_stereo(block, self.channel_policy) if self._converted is None else block.T
        out[:, lo - start : lo - start + block.shape[1]] = block
        return out

    def read_all(self) -> np.ndarray:
        return self.read(0, self.length)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._converted is not None:
            self._converted.unlink(missing_ok=True)
            self._converted = None

    def __enter__(self) -> "AudioInput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
