"""The synthetic data generator: deterministic, MUSDB-compatible, exact mixtures, real instruments."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.training.data.musdb import list_tracks
from dannasep.training.synth import drums, vocals
from dannasep.training.synth.fluid import FluidRenderer
from dannasep.training.synth.music import plan_song
from dannasep.training.synth.song import render_song


@pytest.fixture(scope="module")
def renderer():
    synth = FluidRenderer()
    yield synth
    synth.close()


def test_plans_are_deterministic_and_varied():
    assert plan_song(7, 10.0) == plan_song(7, 10.0)
    plans = [plan_song(seed, 10.0) for seed in range(40)]
    assert len({p.tempo for p in plans}) > 15 and len({p.groove for p in plans}) >= 5
    assert {len(p.others) for p in plans} == {1, 2, 3}
    for plan in plans:
        bass_roots = {n.pitch % 12 for n in plan.bass.notes}
        assert plan.vocals.notes and all(57 <= n.pitch <= 80 for n in plan.vocals.notes)
        assert len(bass_roots) >= 2  # the bass follows the chords
        assert any(n.pitch == 36 for n in plan.drums.notes) and any(n.pitch == 38 for n in plan.drums.notes)


@pytest.mark.slow
def test_a_song_renders_the_same_twice_and_the_mixture_is_the_exact_sum():
    first = render_song(11, 6.0)
    second = render_song(11, 6.0)
    for source in SOURCES:
        assert first.stems[source].shape == (6 * SAMPLE_RATE, 2)
        assert np.array_equal(first.stems[source], second.stems[source]), source
        assert np.sqrt(np.mean((first.stems[source] / 32768.0) ** 2)) > 10 ** (-40 / 20), f"{source} is silent"
    total = sum(first.stems[s].astype(np.int32) for s in SOURCES)
    assert np.array_equal(first.mixture.astype(np.int32), total)
    assert np.abs(total).max() < 32767


def test_no_sound_leaks_from_one_stem_into_the_next(renderer):
    plan = plan_song(3, 4.0)
    renderer.render(plan.others[0], 4 * SAMPLE_RATE)  # leave the synth full of ringing notes
    silent = renderer.render(type(plan.bass)("empty", 0, ()), SAMPLE_RATE)
    assert np.abs(silent).max() == 0.0


def test_hydrogen_kits_map_the_general_midi_drums():
    kits = drums.usable_kits()
    if not kits:
        pytest.skip("hydrogen-drumkits is not installed")
    assert len(kits) >= 5
    names = {kit.name for kit in kits}
    assert "circAfrique v4" not in names and "Gimme A Hand 1.0" not in names  # not drum kits
    plan = plan_song(5, 4.0)
    audio = kits[0].render(plan.drums.notes, 4 * SAMPLE_RATE, np.random.default_rng(0))
    assert audio.shape == (4 * SAMPLE_RATE, 2) and np.abs(audio).max() > 0.05


@pytest.mark.skipif(not vocals.festival_available(), reason="festival or pyworld missing")
def test_sung_vocals_follow_the_melody_and_reach_above_the_festival_band_edge():
    pyworld = vocals._pyworld()
    plan = plan_song(5, 8.0)
    rng = np.random.default_rng(0)
    voice = dataclasses.replace(vocals.random_voice(rng), octave=0)  # the pitch check reads the written melody
    sung = vocals.sing(plan.vocals.notes, 8 * SAMPLE_RATE, voice, rng).astype(np.float64)
    f0, times = pyworld.dio(sung, SAMPLE_RATE, frame_period=10)
    f0 = pyworld.stonemask(sung, f0, times, SAMPLE_RATE)
    within, total = 0, 0
    for note in plan.vocals.notes:
        inside = (times > note.start + 0.08) & (times < note.end - 0.05) & (f0 > 0)
        cents = 1200 * np.log2(f0[inside] / (440 * 2 ** ((note.pitch - 69) / 12)))
        within += int(np.sum(np.abs(cents) < 50))
        total += int(inside.sum())
    assert total > 100 and within / total > 0.8
    spectrum = np.abs(np.fft.rfft(sung)) ** 2
    freqs = np.fft.rfftfreq(len(sung), 1 / SAMPLE_RATE)
    high = 10 * np.log10(spectrum[freqs > 9000].sum() / spectrum.sum())
    assert -70 < high < -15  # an extended, falling band: neither a brick wall nor noise


@pytest.mark.slow
def test_the_cli_writes_a_musdb_set_that_musdb_and_our_reader_load(tmp_path):
    out = tmp_path / "synth"
    command = [
        sys.executable,
        "-m",
        "dannasep.engine.cli",
        "synth",
        str(out),
        "--train",
        "2",
        "--valid",
        "1",
        "--test",
        "1",
        "--seconds",
        "4",
        "--seed",
        "3",
        "--workers",
        "2",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wrote 4 songs" in done.stdout
    train, train_problems = list_tracks(out, "train")
    valid, _ = list_tracks(out, "valid")
    test, _ = list_tracks(out, "test")
    assert (len(train), len(valid), len(test), train_problems) == (2, 1, 1, [])
    for track in train + valid + test:
        mixture = sf.read(track.path("mixture"), dtype="int16")[0].astype(np.int32)
        stems = sum(sf.read(track.path(s), dtype="int16")[0].astype(np.int32) for s in SOURCES)
        assert np.array_equal(mixture, stems)
        assert sf.info(str(track.path("mixture"))).samplerate == SAMPLE_RATE
    import musdb

    db = musdb.DB(root=str(out), is_wav=True, subsets="train", split="valid", setup_file="setup.yaml")
    assert [t.name for t in db] == [valid[0].name]
    summary = json.loads((out / "synth.json").read_text())
    assert summary["rendered_now"] == 4
    # a second run keeps the finished songs
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and json.loads((out / "synth.json").read_text())["rendered_now"] == 0
    assert not list(out.rglob(".partial-*"))


@pytest.mark.slow
def test_bad_arguments_are_refused_with_a_message(tmp_path):
    (tmp_path / "file").write_text("x")
    base = [sys.executable, "-m", "dannasep.engine.cli", "synth"]
    refused = subprocess.run([*base, str(tmp_path / "a"), "--seconds", "0"], capture_output=True, text=True)
    assert refused.returncode == 2 and "--seconds" in refused.stderr
    refused = subprocess.run(
        [*base, str(tmp_path / "file"), "--train", "1", "--valid", "0", "--test", "0", "--seconds", "2"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1 and "not a folder" in refused.stderr
