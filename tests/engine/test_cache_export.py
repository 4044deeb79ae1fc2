"""Export from the render-ahead cache on its own (no torch, no audio device): the files it writes
are the cache's stems fused with the preset's weights, as the offline path writes its fusion, and
a cache that does not hold the whole song's final stems is refused."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dannasep.engine.audio.writer import AudioFormat
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.fusion.presets import make_preset
from dannasep.engine.renderahead.cache import StemCache
from dannasep.engine.renderahead.export import RenderRecipe, write_from_cache
from dannasep.engine.separation.naming import OutputNaming

PAGE = 4096
MODELS = ("xumx", "demucs")


@pytest.fixture
def stems():
    """Each model's (4, 2, length) stems of a song just over 3 pages long."""
    rng = np.random.default_rng(1)
    return [0.2 * rng.standard_normal((4, 2, 3 * PAGE + 100), dtype=np.float32) for _ in MODELS]


def _cache(stems, final_until: int) -> StemCache:
    length = stems[0].shape[-1]
    cache = StemCache.create(length, len(MODELS), PAGE, cache_mb=64)
    keep = lambda _page: -np.inf  # noqa: E731
    cache.write(0, [s[..., :final_until] for s in stems], final=True, evict_order=keep)
    if final_until < length:
        cache.write(final_until, [s[..., final_until:] for s in stems], final=False, evict_order=keep)
    return cache


def test_the_written_files_are_the_cached_stems_fused_with_the_preset_weights(stems, tmp_path):
    cache = _cache(stems, stems[0].shape[-1])
    preset = make_preset("mix", {"xumx": [1, 3, 1, 0], "demucs": [3, 1, 1, 1]}).restricted_to(("bass", "vocals"))
    naming = OutputNaming(tmp_path / "out", ext="wav")
    paths = write_from_cache(
        cache, MODELS, preset, Path("song.flac"), ("bass", "vocals"), naming, AudioFormat("wav", "float")
    )
    assert paths == [tmp_path / "out/song/bass.wav", tmp_path / "out/song/vocals.wav"]
    for stem in ("bass", "vocals"):
        i = SOURCES.index(stem)
        expected = sum(preset.weights[m][i] * s[i] for m, s in zip(MODELS, stems, strict=True))
        written, rate = sf.read(str(tmp_path / f"out/song/{stem}.wav"), dtype="float32")
        assert rate == SAMPLE_RATE and np.allclose(written.T, expected, atol=1e-6)
    assert sorted(p.name for p in (tmp_path / "out/song").iterdir()) == ["bass.wav", "vocals.wav"]
    with pytest.raises(Exception, match="already exists"):
        write_from_cache(cache, MODELS, preset, Path("song.flac"), ("bass",), naming, AudioFormat())


def test_a_cache_with_quick_stems_is_refused(stems, tmp_path):
    cache = _cache(stems, 2 * PAGE)
    assert cache.covered_until(0) == cache.length  # it plays, but part of it is quick chunks
    with pytest.raises(ValueError, match="whole song"):
        write_from_cache(
            cache, MODELS, make_preset("p", {"xumx": [1] * 4}), Path("s.wav"), SOURCES, OutputNaming(tmp_path), None
        )
    assert not any(tmp_path.iterdir())


def test_recipes_name_what_differs():
    ours = RenderRecipe(frozenset(MODELS), None, None, "auto", 1)
    theirs = RenderRecipe(frozenset(MODELS[:1]), Path("/w"), "paper", "auto", 1)
    assert ours.differences(ours) == [] and ours.differences(theirs) == ["models", "weights_dir", "size"]
