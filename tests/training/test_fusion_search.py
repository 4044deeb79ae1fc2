"""Fusion-weight search: the grid, the quadratic-form shortcut against direct SDRs, the CLI."""

import subprocess
import sys

import numpy as np
import pytest
from audio_fixtures import write_dataset

from dannasep.engine.fusion.presets import load_preset
from dannasep.training.evaluation.metrics import global_sdr
from dannasep.training.fusion_search.search import inner_products, sdr_of_weights, search, simplex_grid


def test_the_simplex_grid():
    grid = simplex_grid(3, 0.05)
    assert grid.shape == (231, 3)
    assert np.allclose(grid.sum(axis=1), 1.0) and grid.min() >= 0
    with pytest.raises(ValueError):
        simplex_grid(3, 0.3)


def test_quadratic_form_sdr_equals_the_sdr_of_the_weighted_sum():
    rng = np.random.default_rng(0)
    truths = [rng.standard_normal((4, 2, 500)) for _ in range(3)]
    estimates = [t[None] + rng.standard_normal((2, 4, 2, 500)) * [[[[0.3]]], [[[0.8]]]] for t in truths]
    products = inner_products(truths, estimates)
    weights = np.array([[0.7, 0.3], [0.2, 0.8]])
    fast = sdr_of_weights(products, weights)
    for p, w in enumerate(weights):
        for t, (truth, est) in enumerate(zip(truths, estimates, strict=True)):
            direct = global_sdr(truth, np.tensordot(w, est, axes=1))
            assert fast[p, t] == pytest.approx(direct, abs=1e-6)


def test_search_picks_the_model_that_is_right_for_each_source():
    rng = np.random.default_rng(1)
    truths = [rng.standard_normal((4, 2, 400)) for _ in range(3)]
    estimates = []
    for truth in truths:
        good_at_drums = truth + rng.standard_normal(truth.shape) * [[[0.05]], [[2]], [[2]], [[2]]]
        good_at_rest = truth + rng.standard_normal(truth.shape) * [[[2]], [[0.05]], [[0.05]], [[0.05]]]
        estimates.append(np.stack([good_at_drums, good_at_rest]))
    result = search(inner_products(truths, estimates), ("unet", "demucs"), step=0.05)
    assert result.weights[0, 0] >= 0.95 and np.all(result.weights[1, 1:] >= 0.95)
    assert np.allclose(result.weights.sum(axis=0), 1.0)


@pytest.mark.slow
def test_the_cli_writes_a_preset_that_loads(tmp_path):
    data = write_dataset(tmp_path / "data", train=1, valid=2, test=0, seconds=3.0)
    command = [
        sys.executable,
        "-m",
        "dannasep.engine.cli",
        "fusion-search",
        "--data",
        str(data),
        "--model",
        "unet",
        "--model",
        "demucs",
        "--compare",
        "fast",
        "--step",
        "0.25",
        "--out",
        str(tmp_path / "fusion"),
        "--name",
        "mine",
        "--threads",
        "2",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    preset = load_preset(tmp_path / "fusion" / "mine.toml")
    assert set(preset.weights) == {"unet", "demucs"}
    assert "Median global SDR" in (tmp_path / "fusion" / "mine.toml").read_text()
    assert "fast" in done.stdout and "mine" in done.stdout
