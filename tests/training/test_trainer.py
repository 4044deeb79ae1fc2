"""The trainer: exact resume, exported weights, bad data, and two-process DDP."""

import csv
import json
import math
import os
import subprocess
import sys

import pytest

from dannasep.engine.cli import main
from dannasep.engine.models.checkpoint import load_checkpoint

QUICK = [
    "--samples-per-track",
    "2",
    "--batch-size",
    "2",
    "--segment-seconds",
    "1.5",
    "--workers",
    "0",
    "--threads",
    "1",
]


def _train(data, out, *extra, model="demucs"):
    return main(
        [
            "train",
            "--model",
            model,
            "--config",
            f"presets/models/{model}-live.toml",
            "--data",
            str(data),
            "--out",
            str(out),
            *QUICK,
            *extra,
        ]
    )


def _losses(run):
    with open(run / "log.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


@pytest.mark.slow
def test_resumed_run_repeats_the_uninterrupted_one_exactly(tiny_dataset, tmp_path):
    assert _train(tiny_dataset, tmp_path / "straight", "--epochs", "2") == 0
    assert _train(tiny_dataset, tmp_path / "split", "--epochs", "1") == 0
    assert _train(tiny_dataset, tmp_path / "split", "--epochs", "2", "--resume") == 0
    assert _losses(tmp_path / "split") == _losses(tmp_path / "straight")
    assert len(_losses(tmp_path / "split")) == 2


@pytest.mark.slow
def test_best_weights_are_exported_with_a_sidecar(tiny_dataset, tmp_path):
    assert _train(tiny_dataset, tmp_path / "run", "--epochs", "1", model="xumx") == 0
    model = load_checkpoint(tmp_path / "run/best/xumx-live.safetensors", architecture="xumx")
    info = model.checkpoint_info
    assert info["training"]["train_tracks"] == 3 and info["training"]["epoch"] == 1
    assert "valid_sdr_vocals" in info["scores"]
    assert (tmp_path / "run/loss.png").stat().st_size > 1000
    # input statistics came from the data, not the defaults
    assert float(model.input_scale.detach().mean()) != 1.0


@pytest.mark.slow
def test_a_run_from_given_weights_scores_them_first_and_keeps_them_unless_beaten(tiny_dataset, tmp_path, capsys):
    assert _train(tiny_dataset, tmp_path / "first", "--epochs", "1") == 0
    first = tmp_path / "first/best/demucs-live.safetensors"
    # learning rate 0: the weights (Demucs has no batch statistics) stay exactly the starting ones
    assert _train(tiny_dataset, tmp_path / "next", "--epochs", "1", "--init", str(first), "--learning-rate", "0") == 0
    rows = _losses(tmp_path / "next")
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert rows[0]["steps"] == "0" and rows[1]["steps"] == "3"
    starting_sdr = float(_losses(tmp_path / "first")[0]["valid_sdr"])
    assert float(rows[0]["valid_sdr"]) == pytest.approx(starting_sdr, abs=1e-4)
    assert float(rows[1]["valid_sdr"]) == pytest.approx(starting_sdr, abs=1e-4)
    assert "starting weights: valid SDR" in capsys.readouterr().out
    assert not list((tmp_path / "next").glob("best/*.safetensors")), "weights no better than the start were exported"


def test_weights_trained_further_record_the_run_they_continue(tiny_dataset, tmp_path):
    from dannasep.training.data.musdb import list_tracks
    from dannasep.training.trainer.config import TrainingConfig
    from dannasep.training.trainer.loop import RunData, Trainer
    from tests.tiny_networks import tiny_network

    earlier = {"weights": "demucs-live.safetensors", "steps": 6825, "device": "cuda"}
    data = RunData(tiny_dataset, list_tracks(tiny_dataset, "train")[0], [])
    trainer = Trainer(tiny_network("demucs"), TrainingConfig(), data, tmp_path, continues=earlier)
    trainer.steps = 40
    trainer._export_best({"valid_sdr": 1.0})
    record = load_checkpoint(next((tmp_path / "best").glob("*.safetensors"))).checkpoint_info["training"]
    assert record["steps"] == 40 and record["steps_in_all"] == 6865
    assert record["continues"] == earlier


@pytest.mark.slow
def test_an_existing_run_is_not_overwritten_and_settings_must_match_to_resume(tiny_dataset, tmp_path, capsys):
    assert _train(tiny_dataset, tmp_path / "run", "--epochs", "1") == 0
    assert _train(tiny_dataset, tmp_path / "run", "--epochs", "1") != 0
    assert "pass --resume" in capsys.readouterr().err
    assert _train(tiny_dataset, tmp_path / "run", "--epochs", "2", "--resume", "--learning-rate", "0.1") != 0
    assert "other training settings" in capsys.readouterr().err


@pytest.mark.slow
def test_bad_tracks_are_counted_and_training_continues(tiny_dataset, tmp_path, capsys):
    (tiny_dataset / "train/t1/drums.wav").write_bytes(b"corrupt")
    assert _train(tiny_dataset, tmp_path / "run", "--epochs", "1") == 0
    captured = capsys.readouterr()
    assert "skipping track t1: drums.wav is unreadable" in captured.err
    assert "1 track(s) were skipped" in captured.out


def test_no_usable_tracks_stops_with_a_clear_error(tiny_dataset, tmp_path, capsys):
    for name in ("t0", "t1", "t2"):
        (tiny_dataset / f"train/{name}/bass.wav").unlink()
    assert _train(tiny_dataset, tmp_path / "run", "--epochs", "1") != 0
    assert "no usable training tracks (3 skipped)" in capsys.readouterr().err


@pytest.mark.slow
def test_two_cpu_processes_hold_identical_weights(tiny_dataset, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "dannasep.training.trainer.cli",
        "--model",
        "demucs",
        "--config",
        "presets/models/demucs-live.toml",
        "--data",
        str(tiny_dataset),
        "--out",
        str(tmp_path / "ddp"),
        "--epochs",
        "2",
        "--device",
        "cpu",
        *QUICK,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"ddp/ranks/rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["epoch"] == ranks[1]["epoch"] == 2
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    assert json.loads((tmp_path / "ddp/run.json").read_text())["world_size"] == 2


def _column(run, name):
    with open(run / "log.csv") as f:
        return [float(row[name]) for row in csv.DictReader(f)]


@pytest.mark.slow
def test_in_memory_data_trains_like_the_files_and_may_resume_a_file_run(tiny_dataset, tmp_path):
    assert _train(tiny_dataset, tmp_path / "files", "--epochs", "2") == 0
    assert _train(tiny_dataset, tmp_path / "memory", "--epochs", "2", "--data-in-memory") == 0
    assert _column(tmp_path / "memory", "train_loss") == pytest.approx(_column(tmp_path / "files", "train_loss"), 1e-4)
    assert _train(tiny_dataset, tmp_path / "mixed", "--epochs", "1") == 0
    assert _train(tiny_dataset, tmp_path / "mixed", "--epochs", "2", "--resume", "--data-in-memory") == 0
    assert _column(tmp_path / "mixed", "valid_sdr") == pytest.approx(_column(tmp_path / "files", "valid_sdr"), abs=1e-3)


@pytest.mark.slow
def test_a_time_budget_stops_at_an_epoch_boundary_and_resume_finishes(tiny_dataset, tmp_path, capsys):
    assert _train(tiny_dataset, tmp_path / "run", "--epochs", "3", "--time-budget", "0.0001") == 0
    assert "time budget" in capsys.readouterr().out
    assert len(_losses(tmp_path / "run")) == 1
    assert _train(tiny_dataset, tmp_path / "run", "--epochs", "3", "--resume") == 0
    assert [row["epoch"] for row in _losses(tmp_path / "run")] == ["1", "2", "3"]


@pytest.mark.slow
def test_bfloat16_autocast_trains_on_the_cpu(tiny_dataset, tmp_path):
    assert _train(tiny_dataset, tmp_path / "run", "--epochs", "1", "--amp", "bfloat16", model="unet") == 0
    losses = _column(tmp_path / "run", "train_loss")
    assert all(map(math.isfinite, losses))
    assert json.loads((tmp_path / "run/run.json").read_text())["training"]["amp_dtype"] == "bfloat16"


def test_learning_curves_of_several_runs_share_one_plot(tmp_path):
    from dannasep.training.trainer.logs import plot_validation_curves, read_csv, write_csv

    rows = [{"epoch": e, "steps": 100 * e, "valid_sdr": 1.0 + e} for e in (1, 2, 3)]
    write_csv(rows, tmp_path / "log.csv")
    assert [r["steps"] for r in read_csv(tmp_path / "log.csv")] == [100.0, 200.0, 300.0]
    plot_validation_curves({"a": rows, "b": rows[:2]}, tmp_path / "curves.png", "curves")
    assert (tmp_path / "curves.png").stat().st_size > 10_000
