import math

import pytest
import torch

from dannasep.engine.constants import ARCHITECTURES
from dannasep.engine.control.state import EngineState
from dannasep.engine.errors import PresetError
from dannasep.engine.fusion.presets import list_presets, load_preset, make_preset, preset_to_toml
from dannasep.engine.fusion.weights import normalise_weights, silent_sources
from dannasep.engine.separation.fusion import fuse


def test_paper_preset_is_the_published_table():
    preset = load_preset("paper")
    assert preset.models == ["xumx", "unet", "demucs"]
    assert preset.weights["xumx"] == (0.2, 0.1, 0.0, 0.2)
    assert preset.weights["unet"] == (0.2, 0.17, 0.5, 0.4)
    assert preset.weights["demucs"] == (0.6, 0.73, 0.5, 0.4)


def test_fast_preset_folds_xumx_into_the_unet():
    preset = load_preset("fast")
    assert preset.models == ["unet", "demucs"]
    assert preset.weights["unet"] == (0.4, 0.27, 0.5, 0.6)


def test_every_source_is_normalised():
    preset = make_preset("x", {"xumx": [1, 2, 0, 3], "demucs": [1, 2, 5, 1]})
    for i in range(4):
        assert math.isclose(sum(row[i] for row in preset.weights.values()), 1.0)


def test_a_model_with_all_zero_weights_is_not_run():
    preset = make_preset("x", {"xumx": [0, 0, 0, 0], "unet": [1, 1, 1, 1]})
    assert preset.models == ["unet"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"wavenet": [1, 1, 1, 1]}, "unknown model 'wavenet'"),
        ({"xumx": [1, -1, 1, 1]}, "must be finite numbers >= 0"),
        ({"xumx": [1, float("nan"), 1, 1]}, "must be finite numbers >= 0"),
        ({"xumx": {"drums": 1, "piano": 1}}, "unknown sources \\['piano'\\]"),
        ({"xumx": [0, 0, 0, 0]}, "every weight is 0"),
        ({"xumx": [1, 1]}, "a table of sources or 4 numbers"),
        ({}, "no \\[weights"),
    ],
)
def test_bad_presets_are_refused_with_the_reason(raw, message):
    with pytest.raises(PresetError, match=message):
        make_preset("bad", raw)


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(PresetError, match=r"available: demucs-v2, fast, live, low-latency, paper"):
        load_preset("nonexistent")
    assert {"paper", "fast", "demucs-v2"} <= set(list_presets())


def test_toml_round_trip(tmp_path):
    preset = make_preset("mine", {"unet": [1, 3, 1, 1], "demucs": [1, 1, 1, 3]}, 'my "own" mix')
    path = tmp_path / "mine.toml"
    path.write_text(preset_to_toml(preset, comment="searched"))
    again = load_preset(path)
    assert again.description == 'my "own" mix'
    for arch in preset.weights:
        assert all(
            math.isclose(a, b, abs_tol=1e-6) for a, b in zip(again.weights[arch], preset.weights[arch], strict=False)
        )


def test_fuse_is_a_per_source_weighted_sum():
    preset = make_preset("x", {"xumx": [1, 0, 1, 3], "demucs": [1, 1, 1, 1]})
    a, b = torch.randn(4, 2, 100), torch.randn(4, 2, 100)
    out = fuse({"xumx": a, "demucs": b}, preset)
    assert torch.allclose(out[0], 0.5 * a[0] + 0.5 * b[0])
    assert torch.allclose(out[1], b[1])
    assert torch.allclose(out[3], 0.75 * a[3] + 0.25 * b[3])


def test_restricting_stems_drops_models_only_other_stems_need():
    preset = make_preset("x", {"xumx": [1, 0, 0, 0], "unet": [0, 1, 1, 1]})
    assert preset.restricted_to(("vocals",)).models == ["unet"]
    assert preset.restricted_to(("drums",)).models == ["xumx"]
    assert preset.with_weight("xumx", "vocals", 1.0).weight("xumx", "vocals") == 0.5


def test_a_source_no_running_model_weighs_is_silent_everywhere():
    """One rule for an all-zero column: the source is silent, offline as live, and no other model
    is promoted to carry it."""
    raw = {"xumx": (1.0, 0.0, 1.0, 3.0), "demucs": (1.0, 0.0, 3.0, 0.0)}
    assert normalise_weights(raw) == {"xumx": (0.5, 0.0, 0.25, 1.0), "demucs": (0.5, 0.0, 0.75, 0.0)}
    assert silent_sources(raw) == ("bass",)
    assert make_preset("x", raw).weights == normalise_weights(raw)
    state = EngineState(weights=tuple(raw.items()))
    assert state.normalised_weights() == normalise_weights(raw)
    # without X-UMX running, vocals has no weight left: silent, not handed to Demucs
    assert normalise_weights(raw, running=["demucs"]) == {"xumx": (0.0,) * 4, "demucs": (1.0, 0.0, 1.0, 0.0)}
    assert silent_sources(raw, running=["demucs"]) == ("bass", "vocals")


def test_the_known_architectures_are_the_registered_ones():
    from dannasep.engine.models.base import architectures

    assert set(ARCHITECTURES) == set(architectures())
