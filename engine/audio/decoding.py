"""Decoding a file front to back in bounded blocks, to learn its real length.

A header's frame count is only a claim: a FLAC whose STREAMINFO says 0 samples (an interrupted
write, or a streaming encoder) makes libsndfile report 2**63 - 1 frames, a truncated file still
declares its full length, an MP3's count is an estimate. Nothing may be sized from such a number,
so every reader counts the frames by decoding them, a block at a time, before it plans any work.
"""

import io
import os
import struct
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from dannasep.engine.errors import AudioInputError

BLOCK_SAMPLES = 1 << 19
"""Samples (frames x channels) per decoded block: 2 MB of float32 whatever the channel count."""

UNKNOWN_LENGTH = 1 << 62
"""libsndfile reports 2**63 - 1 frames for a file whose header gives no length; anything at or
above this is treated as no length at all."""


_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_stderr = -1


@contextmanager
def quiet_decoder() -> Iterator[None]:
    """Silence file descriptor 2 while a decoder runs.

    libmpg123, under libsndfile, prints "Note: Illegal Audio-MPEG-Header ..." lines straight to
    the process's stderr for damaged MP3 data; the user is told about the file in one sentence
    of ours instead. Nested and concurrent uses share one redirection.
    """
    global _quiet_depth, _saved_stderr
    with _quiet_lock:
        if _quiet_depth == 0:
            sys.stderr.flush()
            _saved_stderr = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                os.dup2(_saved_stderr, 2)
                os.close(_saved_stderr)


class _SequentialFile(sf.SoundFile):
    """A SoundFile read front to back only.

    soundfile seeks back to its own idea of the position after every read; libsndfile cannot seek
    in a FLAC whose header gives no length, so that seek fails and loses the block just decoded.
    Reporting the file as not seekable makes soundfile read plainly until the decoder stops.
    """

    def seekable(self) -> bool:
        return False


class _FileView(io.RawIOBase):
    """A file's bytes from `start` on, with some bytes replaced (`patches`: file offset -> bytes),
    as a file of its own: what libsndfile needs to read a WAV's audio as RAW, or a FLAC whose
    declared length it must not trust."""

    def __init__(self, path: Path, start: int = 0, patches: dict[int, bytes] | None = None):
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._start = start
        self._patches = patches or {}
        self._file.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        at = self._file.tell()
        count = self._file.readinto(buffer)
        for offset, data in self._patches.items():
            lo, hi = max(offset, at), min(offset + len(data), at + count)
            if lo < hi:
                memoryview(buffer)[lo - at : hi - at] = data[lo - offset : hi - offset]
        return count

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position += self._start
        return self._file.seek(position, whence) - self._start

    def tell(self) -> int:
        return self._file.tell() - self._start

    def close(self) -> None:
        self._file.close()
        super().close()


def unsized_wav_audio(path: Path) -> int | None:
    """Where the audio of a RIFF WAV starts when its data chunk declares 0 bytes yet audio follows
    (a recorder or streaming encoder that never went back to fill in the size), else None.
    libsndfile reads such a file as empty; its audio runs to the end of the file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                return offset + 8 if chunk_size == 0 and size > offset + 8 else None
            offset += 8 + chunk_size + (chunk_size & 1)
    return None


FLAC_TOTAL_SAMPLES_AT = 8 + 13
"""File offset of the byte whose low nibble starts STREAMINFO's 36-bit total-samples field
("fLaC", the block header, then 13 bytes of block sizes, frame sizes, rate, channels, bits)."""


def flac_length_unknown(path: Path) -> dict[int, bytes] | None:
    """The patch that makes a FLAC's STREAMINFO say "length unknown", or None for other files.
    libsndfile stops at the declared count, so audio past a too-small count would be lost;
    without a count it decodes to the end, and decoding finds the real length."""
    with open(path, "rb") as f:
        head = f.read(FLAC_TOTAL_SAMPLES_AT + 5)
    if len(head) < FLAC_TOTAL_SAMPLES_AT + 5 or head[:4] != b"fLaC" or head[4] & 0x7F != 0:
        return None
    return {FLAC_TOTAL_SAMPLES_AT: bytes([head[FLAC_TOTAL_SAMPLES_AT] & 0xF0, 0, 0, 0, 0])}


@contextmanager
def _open_front_to_back(path: Path) -> Iterator[sf.SoundFile]:
    """The file opened for one pass front to back, reading all the audio it holds whatever its
    header says."""
    audio_at = unsized_wav_audio(path)
    if audio_at is not None:
        info = sf.info(str(path))
        raw = dict(format="RAW", samplerate=info.samplerate, channels=info.channels, subtype=info.subtype)
        with _FileView(path, start=audio_at) as view, _SequentialFile(view, endian="LITTLE", **raw) as f:
            yield f
        return
    patches = flac_length_unknown(path)
    if patches is not None:
        with _FileView(path, patches=patches) as view, _SequentialFile(view) as f:
            yield f
        return
    with _SequentialFile(str(path)) as f:
        yield f


def block_frames(channels: int) -> int:
    """Frames per block for `channels` channels (never below one)."""
    return max(1, BLOCK_SAMPLES // max(1, channels))


def decode_blocks(path: Path, channels: int, sample_rate: int) -> Iterator[np.ndarray]:
    """Yield the file's samples as (frames, channels) float32 blocks, front to back.

    NaN or infinite samples and decoder errors raise AudioInputError naming the file and the time
    at which decoding stopped.
    """
    size = block_frames(channels)
    position = 0
    try:
        with quiet_decoder(), _open_front_to_back(path) as f:
            while True:
                try:
                    block = f.read(size, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    # the block in flight is lost, so say where it started and ended
                    declared = f.frames if 0 < f.frames < UNKNOWN_LENGTH else position + size
                    start, end = position / sample_rate, min(position + size, declared) / sample_rate
                    raise AudioInputError(
                        f"{path}: decoding failed between {start:.1f} and {end:.1f} s ({reason(exc)}): "
                        "the file is truncated or corrupt"
                    ) from exc
                if block.shape[0] == 0:
                    return
                check_finite(block, path, position, sample_rate)
                position += block.shape[0]
                yield block
                if block.shape[0] < size:
                    return
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioInputError(f"{path}: not an audio file soundfile can read ({reason(exc)})") from exc


def count_frames(path: Path, channels: int, sample_rate: int) -> int:
    """Decode the whole file (one block in memory at a time) and return its frame count."""
    return sum(block.shape[0] for block in decode_blocks(path, channels, sample_rate))


def check_finite(block: np.ndarray, path: Path, first_frame: int, sample_rate: int) -> None:
    """Raise AudioInputError at the first NaN or infinite sample of a (frames, channels) block."""
    if not np.isfinite(block).all():
        bad = int(np.argwhere(~np.isfinite(block))[0][0]) + first_frame
        raise AudioInputError(
            f"{path}: sample {bad} (at {bad / sample_rate:.2f} s) is NaN or infinite; the file is corrupt"
        )


def reason(exc: Exception) -> str:
    """libsndfile's message, without soundfile's "Error opening '<path>':" in front."""
    text = str(exc).strip()
    if text.startswith("Error opening") and "': " in text:
        text = text.split("': ", 1)[1]
    text = text.removeprefix("Error : ").rstrip(".")
    if "is not a regular file" in text:
        # libsndfile's words when no decoder (its MPEG one included) recognises the data; callers
        # have made sure it is a regular file
        return "no decoder recognises its data"
    return text
