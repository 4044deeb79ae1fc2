"""Decoding a file front to back in bounded blocks, to learn its real length.

A header's frame count is only a claim: a FLAC whose STREAMINFO says 0 samples (an interrupted
write, or a streaming encoder) makes libsndfile report 2**63 - 1 frames, a truncated file still
declares its full length, an MP3's count is an estimate. Nothing may be sized from such a number,
so every reader counts the frames by decoding them, a block at a time, before it plans any work.
"""

import os
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

UNKNOWN_LENGTH = (1 << 62)
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
        with quiet_decoder(), _SequentialFile(str(path)) as f:
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
