"""The weights in presets/weights load, match their sidecars and really separate: on a synthetic
song none of them saw (a seed outside the training set), every stem of the paper fusion beats the
mixture/4 baseline, and the fusion is at least as good as its best single model on average."""

import numpy as np
import pytest

from dannasep.engine.constants import SOURCES
from dannasep.engine.models.checkpoint import find_checkpoints, read_sidecar
from dannasep.engine.paths import shipped_weights_dir
from dannasep.engine.separation.separator import Separator, SeparatorConfig
from dannasep.training.evaluation.metrics import global_sdr
from dannasep.training.evaluation.runner import per_model_estimates
from dannasep.training.synth.song import render_song

UNSEEN_SEED = 987_654_321
SHIPPED_MB_LIMIT = 60


def test_every_architecture_is_shipped_small_and_documented():
    found = find_checkpoints(shipped_weights_dir())
    assert set(found) == {"xumx", "unet", "demucs"}
    total = sum(p.stat().st_size + p.with_suffix(".json").stat().st_size for ps in found.values() for p in ps)
    assert total < SHIPPED_MB_LIMIT * 1e6
    for paths in found.values():
        sidecar = read_sidecar(paths[0])
        assert sidecar["training"]["how"] == "trained with dannasep train"
        assert sidecar["training"]["steps"] > 0 and "valid_sdr" in sidecar["scores"]


@pytest.fixture(scope="module")
def unseen_song():
    song = render_song(UNSEEN_SEED, 12.0)
    truth = np.stack([song.stems[s].T.astype(np.float32) / 32768.0 for s in SOURCES])
    return truth.sum(axis=0), truth


def test_the_shipped_fusion_separates_a_song_it_never_saw(unseen_song):
    mixture, truth = unseen_song
    separator = Separator(SeparatorConfig(preset="paper", allow_untrained=False))
    assert separator.all_trained
    fused = separator.separate(mixture)
    baseline = global_sdr(truth, np.repeat(mixture[None] / 4, 4, axis=0))
    sdr = global_sdr(truth, fused)
    assert np.all(sdr > baseline + 1.0), (sdr, baseline)
    singles = per_model_estimates(mixture, separator.models)
    best_single = max(float(np.mean(global_sdr(truth, est))) for est in singles.values())
    assert np.mean(sdr) > best_single - 0.5, (sdr, best_single)
