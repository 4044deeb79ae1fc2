"""The recorder keeps what it writes aligned with what played, even when its ring overflows."""

import time

import numpy as np
import soundfile as sf

from dannasep.engine.streaming.recorder import RECORDED, Recorder


def _block(start: int, frames: int) -> np.ndarray:
    """(frames, 6, 2) whose every sample is its own stream position plus one, so none is zero."""
    values = np.arange(start, start + frames, dtype=np.float32) + 1
    return np.repeat(np.repeat(values[:, None, None], len(RECORDED), axis=1), 2, axis=2)


def test_a_block_lost_to_a_full_ring_is_silence_of_its_length_and_counted(tmp_path):
    recorder = Recorder(tmp_path / "rec", capacity=512)
    recorder.push(_block(0, 256))
    recorder.push(_block(256, 256))
    recorder.push(_block(512, 256))  # the ring is full: the writer has not started yet
    recorder.start()
    deadline = time.monotonic() + 10
    while recorder._read < 512 or recorder._gaps_written < 1:  # the ring drained, the gap written
        assert time.monotonic() < deadline
        time.sleep(0.01)
    recorder.push(_block(768, 256))
    recorder.stop()
    assert recorder.lost_frames == 256
    for name in RECORDED:
        audio = sf.read(str(tmp_path / "rec" / f"{name}.wav"), dtype="float32")[0]
        expected = np.arange(1024, dtype=np.float32) + 1
        expected[512:768] = 0.0
        np.testing.assert_array_equal(audio[:, 0], expected)
        np.testing.assert_array_equal(audio[:, 1], expected)
