"""The real-time parts on their own, without an audio device: ramps, the mixer, the shared rings,
the fusion-weight seqlock, and the audio callback driven block by block as PortAudio would."""

from dataclasses import dataclass

import numpy as np
import pytest

from dannasep.engine.constants import SOURCES
from dannasep.engine.control.state import STRIPS, EngineState, TransportState
from dannasep.engine.streaming.audio_callback import AudioCallback, BlockControl, CallbackSetup, ControlSlot
from dannasep.engine.streaming.mixer import N_STRIPS, Mixer, Ramp
from dannasep.engine.streaming.rings import SharedRing
from dannasep.engine.streaming.worker import CTRL_VERSION, CTRL_WEIGHTS, read_weights, write_weights


def _ramp(length: int = 8, block: int = 64) -> Ramp:
    return Ramp(length, np.arange(1, block + 1, dtype=np.float32), np.zeros(block, np.float32))


def test_a_ramp_glides_linearly_to_its_target_then_holds_it():
    ramp = _ramp(length=8)
    ramp.set(1.0)
    assert not ramp.steady
    gains = ramp.fill(5).copy()
    assert np.allclose(gains, np.arange(1, 6) / 8)
    gains = ramp.fill(6).copy()
    assert np.allclose(gains, [6 / 8, 7 / 8, 1.0, 1.0, 1.0, 1.0]) and ramp.steady and ramp.current == 1.0
    ramp.set(0.0, immediately=True)
    assert ramp.steady and ramp.current == 0.0 and not ramp.fill(4).any()


def test_a_ramp_turned_midway_starts_from_where_it_is():
    ramp = _ramp(length=10)
    ramp.set(1.0)
    ramp.fill(5)
    ramp.set(0.0)
    assert np.allclose(ramp.fill(10), 0.5 - 0.05 * np.arange(1, 11))


def _frames(n: int, rng) -> np.ndarray:
    return rng.standard_normal((n, N_STRIPS, 2)).astype(np.float32)


def test_the_mixer_plays_the_sum_of_the_stems_or_the_dry_mix(rng):
    mixer = Mixer(256, ramp=16)
    frames = _frames(128, rng)
    out = np.zeros((128, 2), np.float32)
    mixer.set_targets([1.0, 0.5, 1.0, 0.0, 1.0], split=1.0, original=0.0, immediately=True)
    mixer.process(frames, out)
    stems = frames[:, 0] + 0.5 * frames[:, 1] + frames[:, 2]
    assert np.allclose(out, stems, atol=1e-6)
    assert np.allclose(mixer.post[:128, 1], 0.5 * frames[:, 1]) and np.allclose(mixer.post[:128, N_STRIPS], out)
    assert mixer.peaks[3] == 0.0 and mixer.peaks[N_STRIPS] == pytest.approx(np.abs(out).max())
    mixer.set_targets([1.0] * N_STRIPS, split=0.0, original=1.0)  # A/B to the original: a cross-fade
    mixer.process(frames, out)
    assert not np.allclose(out[:8], frames[:8, 4]) and np.allclose(out[16:], frames[16:, 4], atol=1e-6)


def test_multichannel_output_puts_each_strip_on_its_own_pair(rng):
    mixer = Mixer(64, multichannel=True)
    frames = _frames(32, rng)
    out = np.zeros((32, 2 * N_STRIPS), np.float32)
    mixer.set_targets([1.0, 0.0, 1.0, 1.0, 0.25], 1.0, 0.0, immediately=True)
    mixer.process(frames, out)
    assert np.allclose(out[:, 0:2], frames[:, 0]) and not out[:, 2:4].any()
    assert np.allclose(out[:, 8:10], 0.25 * frames[:, 4])


def test_a_shared_ring_wraps_and_is_read_where_it_was_written(rng):
    ring = SharedRing.create(16, (2,))
    try:
        reader = SharedRing.attach(ring.name, 16, (2,))
        data = rng.standard_normal((40, 2)).astype(np.float32)
        for start in range(0, 40, 7):
            ring.write(data[start : start + 7])
        assert reader.written == 40
        out = np.zeros((10, 2), np.float32)
        reader.read_into(out, 30)  # across the wrap: positions 30..39 sit at 14, 15, 0..7
        assert np.array_equal(out, data[30:40])
        ring.write(data[:3], at=100)
        assert reader.written == 103
        reader.close()
    finally:
        ring.close()


def test_the_weight_seqlock_never_hands_out_a_half_written_matrix():
    models = ("xumx", "unet", "demucs")
    control = np.zeros(CTRL_WEIGHTS + 4 * len(models))
    write_weights(control, models, {"xumx": (1, 2, 3, 4), "demucs": (0.5,) * 4})
    assert read_weights(control, models) == {"xumx": (1, 2, 3, 4), "unet": (0.0,) * 4, "demucs": (0.5,) * 4}
    assert control[CTRL_VERSION] == 2
    control[CTRL_VERSION] += 1  # a writer in the middle of an update
    assert read_weights(control, models) is None


@dataclass(frozen=True)
class Flags:
    """The status flags PortAudio passes (sounddevice.CallbackFlags, without initialising PortAudio
    in the test process)."""

    output_underflow: bool = False


class _Device:
    """Drives the callback as PortAudio does: output-only blocks of `block` frames."""

    def __init__(self, callback: AudioCallback, block: int, channels: int = 2):
        self.callback, self.block, self.channels = callback, block, channels

    def play(self, blocks: int) -> np.ndarray:
        played = []
        for _ in range(blocks):
            out = np.full((self.block, self.channels), np.nan, np.float32)
            self.callback(out, self.block, None, Flags())
            played.append(out)
        return np.concatenate(played)


@pytest.fixture
def wired(rng):
    """A callback playing a file into an input ring, reading stems from one lane's output ring."""
    song = rng.standard_normal((4096, 2)).astype(np.float32)
    in_ring, lane_ring = SharedRing.create(1 << 14, (2,)), SharedRing.create(1 << 14, (len(SOURCES) + 1, 2))
    setup = CallbackSetup(in_ring, (lane_ring,), latency=512, audio=song, multichannel=False, recorder=None)
    slot = ControlSlot(BlockControl.of(EngineState()))
    yield AudioCallback(setup, slot), song, lane_ring
    in_ring.close()
    lane_ring.close()


def test_the_callback_feeds_the_file_and_plays_the_stems_latency_later(wired):
    callback, song, lane_ring = wired
    device = _Device(callback, 256)
    assert not device.play(2).any()  # the first `latency` samples: silence, not an under-run
    assert callback.underruns == 0 and callback.setup.in_ring.written == 512
    fed = np.zeros((512, 2), np.float32)
    callback.setup.in_ring.read_into(fed, 0)
    assert np.array_equal(fed, song[:512])
    stems = np.zeros((1024, len(SOURCES) + 1, 2), np.float32)
    stems[:, : len(SOURCES)] = song[:1024, None, :] / len(SOURCES)  # stems that add up to the song
    lane_ring.write(stems)
    assert np.allclose(device.play(4), song[:1024], atol=1e-6)
    assert callback.underruns == 0 and callback.position == 1536
    device.play(1)  # the lane has not written positions 1024.. yet
    assert callback.underruns == 1 and callback.xrun_seconds() == [round(1536 / 44100, 3)]


def test_a_preroll_feeds_the_first_hops_input_before_the_clock_and_the_stems_come_sooner(wired):
    """Latency 512 with 384 samples pre-rolled: the input ring holds them before any block, they
    count as played, so the stems of position 0 are heard after 128 samples, still 512 after their
    input went in."""
    callback, song, lane_ring = wired
    assert callback.preroll(384) == 384 and callback.position == 384
    fed = np.zeros((384, 2), np.float32)
    callback.setup.in_ring.read_into(fed, 0)
    assert callback.setup.in_ring.written == 384 and np.array_equal(fed, song[:384])
    stems = np.zeros((1024, len(SOURCES) + 1, 2), np.float32)
    stems[:, : len(SOURCES)] = song[:1024, None, :] / len(SOURCES)
    lane_ring.write(stems)
    played = _Device(callback, 64).play(4)
    assert not played[:128].any() and np.allclose(played[128:], song[: 256 - 128], atol=1e-6)
    assert callback.underruns == 0 and callback.setup.in_ring.written == 384 + 256
    callback.setup.in_ring.read_into(fed[:256], 384)
    assert np.array_equal(fed[:256], song[384:640])  # the file goes on where the pre-roll stopped


def test_a_paused_transport_or_device_input_is_not_prerolled(rng):
    song = rng.standard_normal((4096, 2)).astype(np.float32)
    in_ring = SharedRing.create(1 << 14, (2,))
    try:
        paused = EngineState(transport=TransportState(playing=False))
        for audio, state in ((song, paused), (None, EngineState())):
            setup = CallbackSetup(in_ring, (), latency=512, audio=audio, multichannel=False, recorder=None)
            callback = AudioCallback(setup, ControlSlot(BlockControl.of(state)))
            assert callback.preroll(384) == 0 and callback.position == 0 and in_ring.written == 0
    finally:
        in_ring.close()


def test_control_changes_reach_the_mixer_only_at_the_callbacks_next_block(wired):
    callback, _song, _ring = wired
    muted = BlockControl.of(EngineState().with_strip("vocals", mute=True))
    callback.slot.publish(muted)
    assert callback.mixer.strips[STRIPS.index("vocals")].target == 1.0  # nobody else touches the mixer
    _Device(callback, 64).play(1)
    assert callback.control is muted and callback.mixer.strips[STRIPS.index("vocals")].target == 0.0
