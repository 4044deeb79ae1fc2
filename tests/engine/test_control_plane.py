"""The control plane under two writers at once (the app and an OSC client): changes reach the
listeners, and through them the inference processes, in the order they were applied."""

import itertools
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import write_song

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.constants import SOURCES
from dannasep.engine.control.commands import SetGain, SetWeight
from dannasep.engine.control.plane import ControlPlane
from dannasep.engine.control.state import STRIPS, EngineState, StripState
from dannasep.engine.streaming.config import LiveConfig
from dannasep.engine.streaming.engine import LiveEngine
from dannasep.engine.streaming.timing import LiveTiming
from dannasep.engine.streaming.worker import (
    CTRL_VERSION,
    STAT_HOPS,
    STAT_WEIGHTS_VERSION,
    read_weights_versioned,
)

MODELS = ("xumx", "demucs")


def _hammer(control: ControlPlane, seconds: float) -> None:
    """Two threads: one sets random fusion weights, the other random gains, as fast as they can."""
    stop = time.monotonic() + seconds

    def weights(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while time.monotonic() < stop:
            stem, model = SOURCES[rng.integers(4)], MODELS[rng.integers(2)]
            control.apply([SetWeight(stem, model, float(rng.uniform(0.1, 2.0)))], source="gui")

    def gains(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while time.monotonic() < stop:
            batch = [SetGain(strip, float(rng.uniform(-30, 6))) for strip in STRIPS if rng.random() < 0.5]
            batch.append(SetWeight(SOURCES[rng.integers(4)], MODELS[rng.integers(2)], float(rng.uniform(0.1, 2))))
            control.apply(batch, source="osc")

    threads = [threading.Thread(target=weights, args=(1,)), threading.Thread(target=gains, args=(2,))]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, between apply and delivery too
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)


def test_listeners_see_every_change_once_in_the_order_applied():
    initial = EngineState(strips=tuple(StripState() for _ in STRIPS), weights=tuple((m, (1.0,) * 4) for m in MODELS))
    control = ControlPlane(initial)
    seen: list[tuple[EngineState, EngineState]] = []

    def slow_listener(old, new, _source):
        seen.append((old, new))
        time.sleep(0)  # yield the GIL here, where an unordered delivery would be overtaken

    control.subscribe(slow_listener)
    _hammer(control, 1.0)
    assert len(seen) > 100
    assert seen[0][0] == initial and seen[-1][1] == control.state
    for (_, earlier), (later_old, _) in itertools.pairwise(seen):
        assert later_old is earlier  # a chain: each change starts where the delivered one ended


@pytest.fixture(scope="module")
def jack():
    with jack_server() as server:
        yield server


@pytest.mark.slow
def test_every_inference_process_ends_on_the_final_state(jack, tmp_path: Path):
    """Hammer weights and gains from two threads for a few seconds while two inference processes
    play; then each process must use exactly the final weights and the mixer the final gains."""
    write_song(tmp_path / "song.wav", 4.0, seed=8)
    preset = tmp_path / "two.toml"
    preset.write_text("".join(f"[weights.{m}]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n" for m in MODELS))
    # generous timing: this test is about the control path, not about keeping up on a busy machine
    timing = LiveTiming(safety=2 * 44100)
    engine = LiveEngine(LiveConfig(source=tmp_path / "song.wav", preset=preset, processes=2, loop=True, timing=timing))
    engine.start()
    try:
        _hammer(engine.control, 3.0)
        final = engine.control.state
        hops = [lane.stats[STAT_HOPS] for lane in engine._lanes]
        deadline = time.monotonic() + 30.0
        while any(lane.stats[STAT_HOPS] < h + 2 for lane, h in zip(engine._lanes, hops, strict=True)):
            assert time.monotonic() < deadline, "the inference processes stopped serving"
            time.sleep(0.05)
        versioned = read_weights_versioned(engine._ctrl, engine.models)
        assert versioned is not None
        version, shared = versioned
        expected = dict(final.weights)  # raw: each process normalises over the models still running
        assert {m: shared[m] for m in MODELS} == {m: tuple(float(w) for w in expected[m]) for m in MODELS}
        assert version == engine._ctrl[CTRL_VERSION]
        for lane in engine._lanes:
            assert lane.stats[STAT_WEIGHTS_VERSION] == version, "a process runs on older weights"
        assert engine.callback.control.state == final  # taken by the callback at a block start
        gains = [ramp.target for ramp in engine.callback.mixer.strips]
        assert gains == pytest.approx([final.effective_gain(s) for s in STRIPS])
    finally:
        engine.stop()
