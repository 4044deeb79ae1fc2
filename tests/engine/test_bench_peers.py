"""`dannasep bench peers`: the peers get our very weights, their recipes are the ones they publish,
and the report says how far the two sides agree.

Tolerances (README, "Against the peers"): the two networks agree to 1e-4 relative on the same
input; our DSP around a network (STFT, Wiener filter, iSTFT) equals the peers' numpy/scipy one to
1e-4 relative when both run the whole track. Through the full pipelines, on an input that both
sides take in one chunk, Demucs v2 agrees to better than 60 dB SDR, while the BLSTM models differ by
their context (our chunks see zeros beyond the track's ends); the quick bench checks only that
those are measured.
"""

import numpy as np
import pytest
import torch

from dannasep.engine.bench.peer_models import asteroid_state_from_xumx, asteroid_xumx_peer
from dannasep.engine.bench.peer_recipes import asteroid_xumx, authors_demucs, authors_masking
from dannasep.engine.bench.peers import (
    CaseRow,
    PeersBenchConfig,
    PeersResult,
    RamRow,
    SideResult,
    bench_signal,
    compare_outputs,
    format_report,
    measure_peers,
    run_worker,
)
from dannasep.engine.bench.peers_worker import WorkerJob
from dannasep.engine.bench.seeded_models import build_ours
from dannasep.engine.cli import main
from dannasep.engine.constants import SOURCES
from dannasep.engine.errors import DannaSepError
from dannasep.engine.importers.asteroid_xumx import xumx_state_from_asteroid
from dannasep.engine.separation.estimators import StemEstimator

NETWORK_TOLERANCE = 1e-4
RECIPE_TOLERANCE = 1e-4
DEMUCS_V2_MIN_SDR_DB = 60.0


def relative(ours: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor) -> float:
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


def test_our_xumx_survives_the_round_trip_through_asteroids_layout():
    ours = build_ours("xumx", "paper").state_dict()
    back = xumx_state_from_asteroid(asteroid_state_from_xumx(ours), list(SOURCES))
    assert back.keys() == ours.keys()
    assert all(torch.equal(back[k], ours[k]) for k in ours)


def test_peer_networks_hold_our_tensors_not_copies():
    ours = build_ours("xumx", "live")
    peer = asteroid_xumx_peer(ours)
    assert peer.layer_lstm["vocals"].weight_hh_l1.data_ptr() == ours.vocals_lstm.weight_hh_l1.data_ptr()


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["xumx", "unet"])
def test_authors_masking_recipe_equals_our_estimator_on_the_whole_track(architecture):
    """norbert in numpy vs our torch Wiener filter, same STFT: the recipes differ only in chunking."""
    model = build_ours(architecture, "live")
    mix = torch.from_numpy(bench_signal(3.0))
    ours = StemEstimator(model)(mix[None])[0]
    theirs = authors_masking(model, mix)
    assert relative(ours, theirs[..., : mix.shape[-1]]) < RECIPE_TOLERANCE


@pytest.mark.slow
def test_asteroid_recipe_equals_our_estimator_on_the_whole_track():
    model = build_ours("xumx", "live")
    mix = bench_signal(3.0)
    ours = StemEstimator(model)(torch.from_numpy(mix)[None])[0]
    assert relative(ours, asteroid_xumx(asteroid_xumx_peer(model), mix)) < RECIPE_TOLERANCE


class ShortEcho(torch.nn.Module):
    """A 'network' returning its input, louder, on every source, 100 samples short."""

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return 20 * wav[..., None, :, :-100].expand(-1, len(SOURCES), -1, -1)


def test_authors_demucs_reads_after_the_zero_prefix_and_clamps():
    audio = torch.linspace(-0.1, 0.1, 30_000).expand(2, -1)
    stems = authors_demucs(ShortEcho(), audio)
    kept = audio.shape[-1] - 100  # the echo of [prefix, audio] is 100 samples short
    assert stems.shape == (len(SOURCES), *audio.shape)
    assert torch.equal(stems[..., :kept], (20 * audio[:, :kept]).clamp(-0.99, 0.99).expand(4, -1, -1))
    assert not stems[..., kept:].any()


def test_output_agreement_is_the_worst_stem():
    rng = np.random.default_rng(0)
    peer = rng.standard_normal((4, 2, 1000)).astype(np.float32)
    ours = peer.copy()
    ours[2] += 0.1 * peer[2]  # 20 dB on "other", exact elsewhere
    agreement = compare_outputs(ours, peer)
    assert agreement.sdr_db == pytest.approx(20.0, abs=1e-3)
    assert agreement.max_abs == pytest.approx(0.1 * np.abs(peer[2]).max(), rel=1e-5)


def test_report_states_both_targets():
    side = SideResult((2.0,), 1000.0)
    fast_peer, heavy_peer = SideResult((3.0,), 900.0), SideResult((4.0,), 2500.0)
    rows = [CaseRow("fusion", side, fast_peer, None, compare_outputs(np.ones((4, 2, 8)), np.ones((4, 2, 8))))]
    report = format_report(PeersBenchConfig(), PeersResult(rows, [RamRow("fusion", side, heavy_peer)], "quiet"))
    assert "| fusion | 2.0 | 3.0 | 1.50 | 1000 MB | 900 MB | same modules |" in report
    assert "| fusion | 1000 MB | 2500 MB | 2.50 | 2.0 | 4.0 |" in report
    assert "Speed target (ours at least as fast as every peer): met; lowest ratio 1.50 (fusion)." in report
    assert "theirs / ours = 2.50" in report and "not met" not in report


def test_a_peer_out_of_memory_gives_a_lower_bound():
    ours, peer = SideResult((2.0,), 1000.0), SideResult((), 1500.0, "out of memory", out_of_memory=True)
    report = format_report(PeersBenchConfig(), PeersResult([], [RamRow("fusion", ours, peer)], "quiet"))
    assert "| fusion | 1000 MB | > 1500 MB (out of memory) | > 1.50 |" in report
    assert "undecided; theirs / ours = > 1.50" in report  # their true peak may or may not reach 2x ours


@pytest.mark.slow
def test_a_worker_over_its_memory_limit_stops_and_reports_its_peak(tmp_path):
    """30 s through the live X-UMX peaks at about 1.0 GB resident (3 s, one short chunk: 440 MB)."""
    source = tmp_path / "mix.npy"
    np.save(source, bench_signal(30.0))
    job = WorkerJob("xumx", "ours", "live", "time", str(source), str(tmp_path / "out.npy"), memory_limit_mb=900)
    result = run_worker(job)
    assert result.out_of_memory and 100 < result.peak_mb < 900, result
    assert not (tmp_path / "out.npy").exists()


def test_cli_refuses_settings_it_cannot_measure(capsys):
    assert main(["bench", "peers", "--seconds", "1"]) == 2
    assert "--seconds >= 3" in capsys.readouterr().err
    with pytest.raises(DannaSepError, match="unknown cases"):
        PeersBenchConfig(cases=("umx",))


@pytest.mark.slow  # ~40 s on 2 cores: eight worker processes of live-size models
def test_quick_bench_measures_every_case_within_tolerance():
    """Also checks both networks against the peers' (network_difference) on the live configs."""
    config = PeersBenchConfig(seconds=3.0, ram_minutes=3 / 60, ram_cases=("xumx",), size="live")
    result = measure_peers(config, log=lambda _line: None)
    assert [r.case for r in result.rows] == ["demucs_v2", "xumx", "fusion"]
    for row in result.rows:
        for side in (row.ours, row.peer):
            assert side.error is None and len(side.seconds) == 1 and side.peak_mb > 100
        assert row.outputs is not None and np.isfinite(row.outputs.sdr_db)
    by_case = {r.case: r for r in result.rows}
    assert by_case["demucs_v2"].network < NETWORK_TOLERANCE and by_case["xumx"].network < NETWORK_TOLERANCE
    assert by_case["fusion"].network is None
    assert by_case["demucs_v2"].outputs.sdr_db > DEMUCS_V2_MIN_SDR_DB
    (ram,) = result.ram_rows
    assert ram.case == "xumx" and ram.ours.error is None and ram.peer.error is None
    report = format_report(config, result)
    assert report.count("\n| demucs_v2 |") == 1 and "RAM target: not measured." in report
    assert report.startswith("Against the peers, 3.0 s stereo noise, live-size models")
