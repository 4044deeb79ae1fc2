"""Live timing: seconds to samples, and a preset's [live] table between the defaults and the
options a user gives."""

import pytest

from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE
from dannasep.engine.errors import PresetError
from dannasep.engine.streaming.timing import LiveOptions, LiveTiming

WEIGHTS = "[weights.demucs]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n"


def test_without_a_live_table_the_defaults_hold():
    timing, processes = LiveOptions().resolve("paper")
    assert timing == LiveTiming() and processes == 1
    assert timing.hop == 43 * HOP_LENGTH and timing.crossfade == 4 * HOP_LENGTH and timing.safety == timing.hop


def test_the_live_preset_brings_its_own_timing_and_processes():
    timing, processes = LiveOptions().resolve("live")
    assert processes == 2
    assert timing.hop == 7 * HOP_LENGTH and timing.crossfade == HOP_LENGTH
    assert timing.safety == round(0.133 * SAMPLE_RATE)
    assert (timing.lookahead, timing.context) == (0, round(0.25 * SAMPLE_RATE))
    low, _ = LiveOptions().resolve("low-latency")
    assert low.hop == 2 * HOP_LENGTH and low.safety == low.hop


def test_options_given_win_over_the_table():
    timing, processes = LiveOptions(hop_seconds=0.5, processes=1).resolve("live")
    assert timing.hop == 22 * HOP_LENGTH and processes == 1
    assert timing.safety == round(0.133 * SAMPLE_RATE)  # the rest still from the table


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("hop = 0.1\nlatency = 0.4\n", r"unknown keys \['latency'\]"),
        ("safety = -0.1\n", r"safety = -0\.1; give seconds >= 0"),
        ("hop = 0\n", r"hop = 0; give seconds >= 0 \(the hop > 0\)"),
        ("processes = 1.5\n", r"processes = 1\.5; give a whole number >= 1"),
        ('context = "long"\n', r"context = 'long'"),
    ],
)
def test_a_bad_live_table_is_refused_with_what_to_fix(tmp_path, table, message):
    path = tmp_path / "mine.toml"
    path.write_text(WEIGHTS + "\n[live]\n" + table)
    with pytest.raises(PresetError, match=message):
        LiveOptions().resolve(path)
