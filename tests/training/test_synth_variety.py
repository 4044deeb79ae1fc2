"""The synthetic data's variety: genres, sound sources, palettes, synths, production."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.training.synth import drum_synth, effects, mixing, oscillators, palette, song, vocals
from dannasep.training.synth.music import GENRES, plan_song

_SEEDS_BY_GENRE: dict[str, int] = {}
for _seed in range(300):
    _SEEDS_BY_GENRE.setdefault(plan_song(_seed, 3.0).genre, _seed)


def test_every_genre_has_its_own_tempo_range_and_grooves():
    assert set(_SEEDS_BY_GENRE) == set(GENRES)
    for seed in range(120):
        plan = plan_song(seed, 20.0)
        genre = GENRES[plan.genre]
        assert genre.tempo[0] <= plan.tempo <= genre.tempo[1]
        assert plan.groove in genre.grooves and plan.bass_pattern in genre.bass_patterns
        assert all(part.name in genre.families for part in plan.others)
        assert len(plan.sections) >= 1 and plan.vocals.notes and plan.drums.notes


@pytest.mark.parametrize("genre", sorted(GENRES))
def test_every_genre_renders_with_an_exact_sum_mixture(genre):
    rendered = song.render_song(_SEEDS_BY_GENRE[genre], 3.0, use_festival=False)
    assert rendered.details["genre"] == genre and genre in rendered.name
    total = sum(rendered.stems[s].astype(np.int32) for s in SOURCES)
    assert np.array_equal(rendered.mixture.astype(np.int32), total) and np.abs(total).max() < 32767
    for source in SOURCES:
        assert rendered.stems[source].shape == (3 * SAMPLE_RATE, 2)
        assert np.abs(rendered.stems[source]).max() > 100, f"{source} is silent"
    json.dumps(rendered.details)  # every choice is recorded as plain JSON


def test_the_ood_palette_renders_the_same_twice():
    first = song.render_song(3, 3.0, use_festival=False, palette="ood")
    second = song.render_song(3, 3.0, use_festival=False, palette="ood")
    assert first.details == second.details
    for source in SOURCES:
        assert np.array_equal(first.stems[source], second.stems[source]), source


class _SilentRenderer:
    def render(self, part, n_samples, pitch_wobble_cents=0.0):
        return np.zeros((n_samples, 2), np.float32)


@pytest.mark.slow
def test_palettes_keep_the_held_out_soundfont_and_kits_apart():
    train, ood = palette.get_palette("train"), palette.get_palette("ood")
    held_out = set(palette.HELD_OUT_SOUNDFONTS)
    assert train.soundfonts and not {family for family, _ in train.soundfonts} & held_out
    assert ood.soundfonts and {family for family, _ in ood.soundfonts} <= held_out
    kits = {"train": set(), "ood": set()}
    for seed in range(60):
        plan = plan_song(seed, 2.0)
        for name in kits:
            rng = np.random.default_rng(seed)
            _, info = song._drums(plan, _SilentRenderer(), palette.get_palette(name), 2 * SAMPLE_RATE, rng)
            if info["source"] == "hydrogen":
                kits[name].add(info["kit"])
    assert kits["train"] and not kits["train"] & palette.HELD_OUT_KITS
    assert kits["ood"] and kits["ood"] <= palette.HELD_OUT_KITS
    rendered = song.render_song(8, 2.0, use_festival=False, palette="ood")
    assert rendered.details["palette"] == "ood"
    assert rendered.details["soundfont"]["family"] in held_out
    with pytest.raises(palette.PaletteError):
        palette.get_palette("nope")


def test_effect_chains_change_the_audio_and_keep_its_length():
    noise = np.random.default_rng(0).standard_normal((2 * SAMPLE_RATE, 2)).astype(np.float32) * 0.1
    rng = np.random.default_rng(1)
    chains = [effects.stem_chain(stem, rng, 0.5) for stem in SOURCES for _ in range(3)]
    chains += [effects.amp_chain(rng), [effects.reverb_effect(rng, kind) for kind in effects.REVERB_KINDS]]
    for chain in chains:
        out = effects.apply_chain(noise, chain)
        assert out.shape == noise.shape and out.dtype == np.float32 and np.all(np.isfinite(out))
        assert np.abs(out - noise).max() > 1e-3, chain
        assert np.array_equal(out, effects.apply_chain(noise, chain))  # deterministic
    assert effects.apply_chain(noise[:, 0], effects.amp_chain(rng)).shape == (2 * SAMPLE_RATE,)
    json.dumps(chains)


def test_bus_compression_keeps_the_stems_summing_to_the_mix():
    rng = np.random.default_rng(2)
    stems = {name: rng.standard_normal((SAMPLE_RATE, 2)) * (0.5 if name == "drums" else 0.05) for name in SOURCES}
    squashed = mixing.bus_compress(stems, threshold_db=-30, ratio=4, release_ms=100)
    ratio = squashed["bass"] / stems["bass"]
    assert np.allclose(ratio, squashed["drums"] / stems["drums"])  # one gain curve for every stem
    assert ratio.min() > 0 and ratio.max() <= 1 and ratio.min() < 0.5


@pytest.mark.parametrize("role", oscillators.ROLES)
def test_numpy_synths_play_the_notes(role):
    plan = plan_song(4, 3.0)
    rng = np.random.default_rng(5)
    for _ in range(3):
        patch = oscillators.random_patch(role, rng)
        audio = oscillators.render(plan.bass.notes, 3 * SAMPLE_RATE, patch)
        assert audio.shape == (3 * SAMPLE_RATE,) and np.sqrt(np.mean(audio**2)) > 0.05 and np.abs(audio).max() <= 1
        assert np.array_equal(audio, oscillators.render(plan.bass.notes, 3 * SAMPLE_RATE, patch))


def test_synthesised_drums_sound_for_every_drum_note():
    plan = plan_song(6, 3.0)
    kit = drum_synth.random_kit(np.random.default_rng(0))
    audio = kit.render(plan.drums.notes, 3 * SAMPLE_RATE, np.random.default_rng(1))
    assert audio.shape == (3 * SAMPLE_RATE, 2) and np.abs(audio).max() > 0.3
    assert {n.pitch for n in plan.drums.notes} <= set(drum_synth._hits(kit))


def test_singers_vary_and_stay_in_a_singable_range():
    plan = plan_song(5, 8.0)
    voices = [vocals.random_voice(np.random.default_rng(seed), plan.vocals.notes) for seed in range(40)]
    pitches = [n.pitch for n in plan.vocals.notes]
    for voice in voices:
        assert min(pitches) + 12 * voice.octave >= 40 and max(pitches) + 12 * voice.octave <= 84
    assert len({v.octave for v in voices}) >= 2 and any(v.breathiness > 0 for v in voices)
    if vocals.festival_voices():
        assert {v.speaker for v in voices} == set(vocals.festival_voices())


@pytest.mark.slow
def test_a_set_keeps_one_palette(tmp_path):
    out = tmp_path / "set"
    out.mkdir()
    (out / "synth.json").write_text(json.dumps({"config": {"palette": "train"}}))
    command = [sys.executable, "-m", "dannasep.engine.cli", "synth", str(out), "--train", "0", "--valid", "0"]
    done = subprocess.run([*command, "--test", "1", "--palette", "ood"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "palette" in done.stderr


@pytest.mark.skipif(not vocals.festival_available(), reason="festival or pyworld missing")
def test_an_octave_up_singer_sings_through_world():
    pyworld = vocals._pyworld()
    plan = plan_song(5, 4.0)
    voice = vocals.Voice(1.1, 5.5, 0.0, 12.0, vocals.festival_voices()[-1], 0.3, 1)
    sung = vocals.sing(plan.vocals.notes, 4 * SAMPLE_RATE, voice, np.random.default_rng(0)).astype(np.float64)
    f0, times = pyworld.dio(sung, SAMPLE_RATE, f0_ceil=1500.0, frame_period=10)
    written = np.zeros_like(f0)
    for note in plan.vocals.notes:
        written[(times > note.start + 0.1) & (times < note.end - 0.05)] = 440 * 2 ** ((note.pitch - 69) / 12)
    both = (f0 > 0) & (written > 0)
    assert both.sum() > 50
    assert abs(np.median(1200 * np.log2(f0[both] / written[both])) - 1200) < 50
