"""Shipping a run's weights: float16 copy that loads back, training record kept, test scores attached."""

import numpy as np
import torch

from dannasep.engine.models.checkpoint import load_checkpoint, save_checkpoint
from dannasep.engine.models.configs import load_model_config
from dannasep.engine.weights.sidecars import read_sidecar
from dannasep.training.evaluation.report import write_csv
from dannasep.training.evaluation.runner import Scores
from dannasep.training.ship import parse_labelled, ship


def test_ship_halves_the_weights_keeps_the_record_and_attaches_median_test_scores(tmp_path):
    torch.manual_seed(0)
    model = load_model_config("unet", "live").build().eval()
    run_best = save_checkpoint(
        model,
        tmp_path / "run" / "best",
        training={"how": "trained with dannasep train", "steps": 7},
        scores={"valid_sdr": 1.0},
    )
    scores = Scores(tracks=["a", "b", "c"])
    for system, offset in (("model:unet", 0.0), ("baseline:mix/4", -5.0)):
        scores.global_sdr[system] = [np.array([1.0, 2.0, 3.0, 4.0]) * k + offset for k in (1, 2, 3)]
        scores.bss_sdr[system] = [np.array([1.5, 2.5, 3.5, 4.5]) * k + offset for k in (1, 2, 3)]
    write_csv(scores, tmp_path / "scores.csv")

    shipped = ship(run_best, tmp_path / "shipped", "fp16", tmp_path / "scores.csv")
    assert shipped.stat().st_size < 0.55 * run_best.stat().st_size
    sidecar = read_sidecar(shipped)
    assert sidecar["training"]["steps"] == 7 and sidecar["training"]["shipped_from"] == run_best.name
    assert sidecar["scores"]["valid_sdr"] == 1.0
    assert sidecar["scores"]["test_drums"] == 3.0 and sidecar["scores"]["test_vocals"] == 9.0  # medians of k=1..3
    assert "BSSEval" in sidecar["scores"]["test_metric"]
    loaded = load_checkpoint(shipped, architecture="unet")
    x = torch.rand(1, 2, 2049, 40)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), model(x), rtol=1e-2, atol=1e-3)

    again = ship(shipped, tmp_path / "shipped", "fp16", None)  # re-shipping in place keeps the weights
    assert again == shipped and read_sidecar(again)["sha256"] == sidecar["sha256"]


def test_ship_records_labelled_test_sets_and_names_the_data(tmp_path):
    torch.manual_seed(0)
    model = load_model_config("unet", "live").build().eval()
    run_best = save_checkpoint(model, tmp_path / "best", training={"data": "/tmp/data"}, scores={})
    for label, offset in (("in", 0.0), ("ood", -1.0)):
        scores = Scores(tracks=["a"])
        scores.global_sdr["model:unet"] = [np.array([1.0, 2.0, 3.0, 4.0]) + offset]
        (tmp_path / label).mkdir()
        write_csv(scores, tmp_path / label / "scores.csv")
    labelled = [
        parse_labelled(f"test_in={tmp_path / 'in/scores.csv'}"),
        parse_labelled(f"test_ood={tmp_path / 'ood/scores.csv'}"),
    ]
    shipped = ship(run_best, tmp_path / "shipped", "fp16", labelled, data="dannasep synth, seed 1")
    sidecar = read_sidecar(shipped)
    assert sidecar["scores"]["test_in_mean"] == 2.5 and sidecar["scores"]["test_ood_mean"] == 1.5
    assert "global SDR" in sidecar["scores"]["test_ood_metric"]
    assert sidecar["training"]["data"] == "dannasep synth, seed 1"
    assert parse_labelled("eval/scores.csv") == ("test", tmp_path.__class__("eval/scores.csv"))
