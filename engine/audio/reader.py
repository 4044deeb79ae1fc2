"""Reading any audio file soundfile understands as 44.1 kHz stereo float32, in ranges.

Validation happens before any work starts: missing, empty, unreadable, non-audio, truncated files
and NaN/Inf samples each get one sentence naming the file. The length is what decoding yields,
never what the header claims (engine/audio/decoding.py): every input is decoded once, a block at a
time, to count its frames. Files at 44.1 kHz whose header gives that same length are read in
place; others (another rate, a length missing or wrong in the header) are decoded once more
(soxr-resampled where needed, streamed block by block) into a temporary float file, so memory
never depends on the length of the song or on what its header says.
"""

import functools
import math
import os
import stat
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from dannasep.engine.audio.channels import CHANNEL_POLICIES, describe_mapping, to_stereo
from dannasep.engine.audio.decoding import UNKNOWN_LENGTH, count_frames, decode_blocks, quiet_decoder, reason
from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.errors import AudioInputError


@dataclass(frozen=True)
class AudioFileInfo:
    """An input file as decoding found it.

    Attributes:
        frames: frames decoded at `sample_rate` (the real length).
        declared_frames: what the header claims, or None where it gives no length.
    """

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str
    declared_frames: int | None = None

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def header_is_right(self) -> bool:
        """True when the header's length is the decoded one."""
        return self.declared_frames == self.frames

    @property
    def seekable_in_place(self) -> bool:
        """Whether ranges can be read from the file itself: its length is known to libsndfile,
        and it is not an MP3 (whose seeking is not sample-exact and whose decoder prints to
        stderr on damaged data)."""
        return self.header_is_right and self.format != "MP3"


def _declared_data_bytes(path: Path) -> tuple[int, int] | None:
    """(declared, present) byte counts of the audio chunk of a WAV, RF64 or AIFF file, or None
    for other formats or when the header gives no size.

    libsndfile sizes a truncated file of these formats by what is present, so decoding alone
    cannot tell a cut file from a short one; the chunk's own size can.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12:
            return None
        form, kind = header[:4], header[8:12]
        if form in (b"RIFF", b"RF64") and kind == b"WAVE":
            endian, audio = "<", b"data"
        elif form == b"RIFX" and kind == b"WAVE":
            endian, audio = ">", b"data"
        elif form == b"FORM" and kind in (b"AIFF", b"AIFC"):
            endian, audio = ">", b"SSND"
        else:
            return None
        offset, wide = 12, None
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack(endian + "4sI", f.read(8))
            if chunk_id == b"ds64" and chunk_size >= 16:
                wide = struct.unpack("<QQ", f.read(16))[1]  # RF64: the real data size (riff size first)
            if chunk_id == audio:
                if chunk_size == 0xFFFFFFFF:
                    chunk_size = wide if wide not in (None, 0xFFFFFFFFFFFFFFFF) else None
                return (chunk_size, size - offset - 8) if chunk_size else None
            offset += 8 + chunk_size + (chunk_size & 1)
    return None


def _check_is_readable_file(path: Path) -> os.stat_result:
    """Refuse what is not a regular, readable, non-empty file, before any decoder touches it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AudioInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise AudioInputError(f"{path}: cannot be read ({exc.strerror})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise AudioInputError(f"{path}: is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        # a FIFO or a device would block or never end
        raise AudioInputError(f"{path}: is not a regular file (a pipe, socket or device?)")
    if st.st_size == 0:
        raise AudioInputError(f"{path}: the file is empty (0 bytes)")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise AudioInputError(f"{path}: cannot be read ({exc.strerror})") from exc
    return st


def _seconds(frames: int, rate: int) -> str:
    return f"{frames / rate:.2f} s"


def inspect_audio(path: str | Path) -> AudioFileInfo:
    """Check that `path` is a readable, non-empty, complete audio file and describe it.

    Decodes the whole file once (bounded memory) to count its frames; remembered per file identity
    so the several readers of one run (the upfront check, the separation) decode it only once.
    """
    path = Path(path)
    st = _check_is_readable_file(path)
    return _inspect(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _inspect(path: Path, _dev: int, _ino: int, _size: int, _mtime_ns: int) -> AudioFileInfo:
    try:
        with quiet_decoder():
            info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioInputError(f"{path}: not an audio file soundfile can read ({reason(exc)})") from exc
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioInputError(f"{path}: invalid header ({info.samplerate} Hz, {info.channels} channels)")
    sizes = _declared_data_bytes(path)
    if sizes is not None and sizes[1] < sizes[0]:
        raise AudioInputError(
            f"{path}: truncated: the header declares {sizes[0]} bytes of audio but only {sizes[1]} "
            "are present (an interrupted copy or download?)"
        )
    declared = info.frames if 0 < info.frames < UNKNOWN_LENGTH else None
    frames = count_frames(path, info.channels, info.samplerate)
    if frames == 0:
        claim = f" although the header declares {_seconds(declared, info.samplerate)}" if declared else ""
        raise AudioInputError(f"{path}: contains no audio samples{claim} (a truncated or unfinished file?)")
    if declared is not None and frames < declared:
        raise AudioInputError(
            f"{path}: truncated: the header declares {_seconds(declared, info.samplerate)} of audio but "
            f"decoding ended at {_seconds(frames, info.samplerate)} (an interrupted copy or download?)"
        )
    return AudioFileInfo(path, info.samplerate, info.channels, frames, info.format, info.subtype, declared)


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
        rate = self.info.sample_rate
        if not self.info.header_is_right:
            declared = self.info.declared_frames
            claim = f"claims {_seconds(declared, rate)}" if declared else "gives no length"
            self.notes.append(f"the header {claim}; decoding found {_seconds(self.info.frames, rate)}, all of it used")
        if rate == SAMPLE_RATE and self.info.seekable_in_place:
            self.length = self.info.frames
        else:
            self.length = math.ceil(self.info.frames * SAMPLE_RATE / rate)
            if rate != SAMPLE_RATE:
                self.notes.append(f"{rate} Hz input: resampled to {SAMPLE_RATE} Hz (soxr VHQ)")
            self._convert()

    @classmethod
    def open(cls, path: str | Path, channel_policy: str = "downmix", workdir: Path | None = None) -> "AudioInput":
        return cls(inspect_audio(path), channel_policy, workdir)

    def _convert(self) -> None:
        """Decode the whole file once more into a temporary 44.1 kHz stereo float file, streamed
        (resampled where the rate differs); reads then seek in that file."""
        fd, tmp = tempfile.mkstemp(prefix="dannasep-input-", suffix=".wav", dir=self.workdir)
        os.close(fd)
        self._converted = Path(tmp)
        rate = self.info.sample_rate
        resampler = (
            soxr.ResampleStream(rate, SAMPLE_RATE, 2, dtype="float32", quality="VHQ") if rate != SAMPLE_RATE else None
        )
        written = 0
        try:
            with sf.SoundFile(tmp, "w", SAMPLE_RATE, 2, subtype="FLOAT", format="RF64") as out:
                for block in decode_blocks(self.info.path, self.info.channels, rate):
                    stereo = np.ascontiguousarray(to_stereo(block, self.channel_policy).T)
                    chunk = resampler.resample_chunk(stereo) if resampler else stereo
                    out.write(chunk)
                    written += chunk.shape[0]
                if resampler:
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

    def read_into(self, out: np.ndarray, block: int = 1 << 20) -> None:
        """out (length, 2) = the whole file, decoded `block` frames at a time, so that a long song
        costs its own size in memory and no more."""
        for start in range(0, self.length, block):
            stop = min(start + block, self.length)
            out[start:stop] = self.read(start, stop).T

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
