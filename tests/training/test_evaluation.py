"""Scoring: SDR metrics by hand and against museval, the oracles, and `dannasep eval` end to end."""

import csv
import subprocess
import sys

import numpy as np
import pytest
from audio_fixtures import make_stems, write_dataset

from dannasep.engine.constants import SOURCES
from dannasep.training.evaluation import metrics, oracles


def test_global_sdr_by_hand():
    reference = np.ones((2, 2, 100))
    assert metrics.global_sdr(reference, 0.9 * reference) == pytest.approx([20.0, 20.0], abs=1e-6)
    assert metrics.global_sdr(reference, np.zeros_like(reference)) == pytest.approx([0.0, 0.0], abs=1e-6)


@pytest.mark.slow
def test_bsseval_sdr_tracks_the_noise_level():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((4, 2, 3 * 44100)) * 0.1
    noisy = truth + 10 ** (-30 / 20) * 0.1 * rng.standard_normal(truth.shape)
    sdr = metrics.bss_eval_sdr(truth, noisy)
    assert sdr.shape == (4,) and np.all(np.abs(sdr - 30) < 1.5)


def test_oracles_recover_a_lone_source_and_beat_the_baseline():
    stems = np.stack([v for v in make_stems(4.0, seed=3).values()]).astype(np.float32)  # (4, 2, time)
    mixture = stems.sum(axis=0)
    lone = np.zeros_like(stems)
    lone[1] = stems[1]
    for oracle in (oracles.ideal_ratio_mask, oracles.ideal_wiener_filter):
        only = oracle(lone, lone.sum(axis=0))
        assert metrics.global_sdr(lone[1:2], only[1:2])[0] > 40, oracle.__name__  # regularised 2x2 inverse
        estimate = oracle(stems, mixture)
        baseline = metrics.global_sdr(stems, np.repeat(mixture[None] / 4, 4, axis=0))
        assert np.all(metrics.global_sdr(stems, estimate) > baseline + 5), oracle.__name__


@pytest.mark.slow
def test_dannasep_eval_writes_a_table_a_csv_and_a_chart(tmp_path):
    data = write_dataset(tmp_path / "data", train=1, valid=0, test=2, seconds=3.0)
    out = tmp_path / "report"
    command = [
        sys.executable,
        "-m",
        "dannasep.engine.cli",
        "eval",
        "--data",
        str(data),
        "--model",
        "demucs",
        "--preset",
        "fast",
        "--out",
        str(out),
        "--threads",
        "2",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    table = (out / "scores.md").read_text()
    for system in ("model:demucs", "preset:fast", "baseline:mix/4", "oracle:IRM", "oracle:MWF"):
        assert f"| {system} |" in table
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert len(rows) == 5 * 2 * len(SOURCES)
    oracle_rows = [float(r["bsseval_sdr_db"]) for r in rows if r["system"] == "oracle:MWF"]
    baseline_rows = [float(r["bsseval_sdr_db"]) for r in rows if r["system"] == "baseline:mix/4"]
    assert np.median(oracle_rows) > np.median(baseline_rows)
    assert (out / "scores.png").stat().st_size > 10_000
    missing = subprocess.run(
        [sys.executable, "-m", "dannasep.engine.cli", "eval", "--data", str(tmp_path / "nope"), "--fast"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 1 and "nope" in missing.stderr


@pytest.mark.slow
def test_listening_modes_report_latency_and_match_the_streamed_presets(tmp_path):
    data = write_dataset(tmp_path / "data", train=1, valid=0, test=1, seconds=3.0)
    plain = tmp_path / "demucs-plain.toml"  # no [live] table: streamed at the engine's defaults
    plain.write_text("[weights.demucs]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n")
    out = tmp_path / "report"
    command = [sys.executable, "-m", "dannasep.engine.cli", "eval", "--data", str(data), "--model", "demucs"]
    command += ["--preset", str(plain), "--preset", "low-latency", "--streaming", "--fast", "--no-oracles"]
    command += ["--listening", str(plain), "--listening", "low-latency", "--out", str(out), "--threads", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {(r["system"], r["source"]): float(r["global_sdr_db"]) for r in csv.DictReader((out / "scores.csv").open())}
    for source in SOURCES:
        streamed = rows[("streamed:preset:demucs-plain", source)]
        assert rows[("listen:demucs-plain", source)] == pytest.approx(streamed, abs=1e-3)
    table = (out / "scores.md").read_text()
    assert "| low-latency, live | 139 ms |" in table and "| demucs-plain, live | 2508 ms |" in table
    assert "| low-latency, offline / render-ahead | offline |" in table
    assert (out / "sdr-latency.png").stat().st_size > 10_000
