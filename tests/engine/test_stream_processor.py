"""The streaming processor and the causal Wiener filter, without audio devices."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dannasep.engine.constants import HOP_LENGTH
from dannasep.engine.dsp.causal_wiener import CausalWiener, CausalWienerSettings
from dannasep.engine.dsp.stft import stft
from dannasep.engine.dsp.wiener import wiener
from dannasep.engine.models.base import InferenceSettings
from dannasep.engine.streaming.input_statistics import RunningInputStatistics
from dannasep.engine.streaming.processor import StreamProcessor, StreamSettings
from dannasep.engine.streaming.timing import LiveTiming


class GainModel:
    """A waveform 'network' with the estimator interface: stem j = g_j · (FIR * mix)."""

    input_domain = "waveform"

    def __init__(self, gains, taps=1, context_frames=4, lookahead_frames=4):
        self.gains = torch.tensor(gains, dtype=torch.float32).view(1, 4, 1, 1)
        kernel = torch.linspace(1.0, 0.2, taps)
        self.kernel = (kernel / kernel.sum()).view(1, 1, -1)  # unit gain at DC
        self.model = SimpleNamespace(
            traits=SimpleNamespace(
                architecture="gain",
                stream_context_samples=context_frames * HOP_LENGTH,
                stream_lookahead_samples=lookahead_frames * HOP_LENGTH,
            ),
            min_lookahead_samples=lambda: 0,
            min_input_length=lambda: 1,
            input_domain="waveform",
            inference=InferenceSettings(),
        )

    def __call__(self, mix: torch.Tensor, statistics=None) -> torch.Tensor:
        taps = self.kernel.shape[-1]
        x = torch.nn.functional.pad(mix, (taps - 1, 0))
        filtered = torch.nn.functional.conv1d(x.reshape(-1, 1, x.shape[-1]), self.kernel.flip(-1)).view_as(mix)
        return filtered.unsqueeze(1) * self.gains


def _stream(processor: StreamProcessor, signal: np.ndarray, block: int):
    hops = []
    for start in range(0, signal.shape[1], block):
        hops += processor.push(signal[:, start : start + block])
    return np.concatenate([h.stems for h in hops], -1), np.concatenate([h.dry for h in hops], -1)


SETTINGS = StreamSettings(LiveTiming(hop=8 * HOP_LENGTH, crossfade=2 * HOP_LENGTH))


@pytest.mark.parametrize("block", [1, 333, 512, 4096, 9999])
def test_block_size_does_not_change_anything(rng, block):
    signal = rng.standard_normal((2, 60_000)).astype(np.float32)
    model = GainModel([0.1, 0.2, 0.3, 0.4], taps=50)
    ref_stems, ref_dry = _stream(
        StreamProcessor({"demucs": model}, lambda: {"demucs": (1, 1, 1, 1)}, SETTINGS), signal, 4096
    )
    stems, dry = _stream(StreamProcessor({"demucs": model}, lambda: {"demucs": (1, 1, 1, 1)}, SETTINGS), signal, block)
    assert np.array_equal(dry, signal[:, : dry.shape[1]])  # the dry hop is the input, to the sample
    assert np.array_equal(stems, ref_stems) and np.array_equal(dry, ref_dry)


def test_models_with_different_lookahead_are_aligned_and_match_the_whole_signal(rng):
    """Two short-memory models with different context and look-ahead: every hop of the fused
    stream equals the same models run on the whole signal at once (context covers the memory)."""
    signal = rng.standard_normal((2, 80_000)).astype(np.float32)
    a = GainModel([0.1, 0.2, 0.3, 0.4], taps=100, context_frames=2, lookahead_frames=3)
    b = GainModel([0.4, 0.3, 0.2, 0.1], taps=100, context_frames=5, lookahead_frames=7)
    weights = {"xumx": (0.5, 0.25, 1.0, 0.0), "demucs": (0.5, 0.75, 0.0, 1.0)}
    processor = StreamProcessor({"xumx": a, "demucs": b}, lambda: weights, SETTINGS)
    assert processor.algorithmic_latency == SETTINGS.timing.hop + 7 * HOP_LENGTH
    stems, _ = _stream(processor, signal, 1000)
    whole = torch.from_numpy(signal).unsqueeze(0)
    expected = sum(
        torch.tensor(w).view(4, 1, 1) * m(whole)[0] for m, w in ((a, weights["xumx"]), (b, weights["demucs"]))
    )
    assert np.allclose(stems, expected[..., : stems.shape[-1]].numpy(), atol=1e-5)


def test_weight_changes_land_at_a_hop_boundary_inside_the_crossfade(rng):
    signal = np.ones((2, 40 * HOP_LENGTH), np.float32)
    weights = {"demucs": (1.0, 1.0, 1.0, 1.0)}
    processor = StreamProcessor({"demucs": GainModel([1, 1, 1, 1])}, lambda: weights, SETTINGS)
    hops = processor.push(signal[:, : 20 * HOP_LENGTH])
    weights["demucs"] = (0.0, 1.0, 1.0, 1.0)  # drums off from the next hop on
    hops += processor.push(signal[:, 20 * HOP_LENGTH :])
    drums = np.concatenate([h.stems[0, 0] for h in hops])
    changed = next(i for i, h in enumerate(hops) if h.stems[0, 0, -1] == 0.0)
    start = changed * SETTINGS.timing.hop
    fade = SETTINGS.timing.crossfade
    assert changed >= 1 and np.all(drums[:start] == 1.0) and np.all(drums[start + fade :] == 0.0)
    ramp = drums[start : start + fade]
    assert np.all(np.diff(ramp) < 0) and ramp[0] < 1.0 and ramp[-1] > 0.0  # a linear fade, no jump


def test_a_model_with_zero_weights_is_not_run(rng):
    calls = []

    class Counting(GainModel):
        def __call__(self, mix, statistics=None):
            calls.append(mix.shape)
            return super().__call__(mix)

    processor = StreamProcessor(
        {"xumx": Counting([1, 1, 1, 1]), "demucs": GainModel([1, 1, 1, 1])},
        lambda: {"xumx": (0, 0, 0, 0), "demucs": (1, 1, 1, 1)},
        SETTINGS,
    )
    _stream(processor, rng.standard_normal((2, 50_000)).astype(np.float32), 4096)
    assert calls == []


def _spectra(rng, frames=30, bins=65):
    x = torch.from_numpy(rng.standard_normal((2, bins, frames)) + 1j * rng.standard_normal((2, bins, frames)))
    v = torch.from_numpy(np.abs(rng.standard_normal((4, 2, bins, frames))))
    return v, x


def test_causal_filter_on_one_window_without_memory_equals_the_offline_filter(rng):
    v, x = _spectra(rng)
    causal = CausalWiener(CausalWienerSettings(iterations=1, forgetting_seconds=1e12, lookahead_frames=0))
    out = causal(v, x, slice(0, x.shape[-1]))
    assert torch.allclose(out, wiener(v, x, n_iter=1), atol=1e-9)


def test_causal_filter_with_zero_iterations_is_plain_masking(rng):
    v, x = _spectra(rng)
    out = CausalWiener(CausalWienerSettings(iterations=0))(v, x, slice(10, 20))
    assert torch.allclose(out, wiener(v, x, n_iter=0), atol=1e-12)


def test_filtering_only_the_kept_frames_changes_nothing_there(rng):
    v, x = _spectra(rng)
    full = CausalWiener()(v, x, slice(10, 20))
    kept = CausalWiener()(v, x, slice(10, 20), slice(8, 25))
    assert torch.allclose(kept[..., 8:25], full[..., 8:25], atol=1e-12)
    assert torch.all(kept[..., :8] == 0) and torch.all(kept[..., 25:] == 0)


def test_causal_filter_remembers_the_past_and_forgets_it():
    """Statistics of earlier hops shape the current one, fading with the forgetting time."""
    rng = np.random.default_rng(0)
    v1, x1 = _spectra(rng)
    v2, x2 = _spectra(rng)
    fresh = CausalWiener(CausalWienerSettings(forgetting_seconds=2.0))(v2, x2, slice(0, 10))
    primed = CausalWiener(CausalWienerSettings(forgetting_seconds=2.0))
    primed(v1, x1, slice(0, 30))
    remembered = primed(v2, x2, slice(0, 10))
    assert not torch.allclose(remembered, fresh, atol=1e-6)
    # a very short memory: only the newest frames count, whatever came before
    short = CausalWiener(CausalWienerSettings(forgetting_seconds=0.005))
    short(v1, x1, slice(0, 30))
    forgotten = short(v2, x2, slice(0, 10))
    fresh_short = CausalWiener(CausalWienerSettings(forgetting_seconds=0.005))(v2, x2, slice(0, 10))
    assert torch.allclose(forgotten, fresh_short, atol=1e-6)


def test_a_live_window_shorter_than_the_network_accepts_gets_more_context():
    """The paper U-Net's six poolings need 64 STFT frames (1.46 s): a short window is widened by
    context (latency unchanged), not left to crash inside the inference process."""
    model = GainModel([1, 1, 1, 1], context_frames=4, lookahead_frames=4)
    model.model.min_input_length = lambda: 63 * HOP_LENGTH
    settings = StreamSettings(LiveTiming(4 * HOP_LENGTH))
    processor = StreamProcessor({"unet": model}, lambda: {"unet": (1.0,) * 4}, settings)
    assert processor.windows["unet"].context == (63 - 4 - 4) * HOP_LENGTH
    assert processor.algorithmic_latency == 8 * HOP_LENGTH


def test_a_checkpoint_lookahead_shorter_than_the_crossfade_is_refused():
    model = GainModel([1, 1, 1, 1], lookahead_frames=1)
    with pytest.raises(ValueError, match="look-ahead 1024 is shorter than the cross-fade 2048"):
        StreamProcessor({"demucs": model}, lambda: {}, SETTINGS)


def test_magnitude_model_windows_stay_on_the_stft_grid():
    with pytest.raises(ValueError, match="multiples of 1024"):
        LiveTiming(hop=1000)


def test_stream_of_stfts_lines_up_with_the_offline_stft(rng):
    """Windows start on multiples of the STFT hop, so their frames are frames of the whole signal."""
    signal = torch.from_numpy(rng.standard_normal((2, 40 * HOP_LENGTH)).astype(np.float32))
    whole = stft(signal)
    window = signal[:, 8 * HOP_LENGTH : 24 * HOP_LENGTH]
    part = stft(window)
    # frames 2..14 of the window are far enough from its edges to be unaffected by padding
    assert torch.allclose(part[..., 2:15], whole[..., 10:23], atol=1e-4)


def test_running_statistics_follow_the_mono_input_and_forget_the_past(rng):
    stats = RunningInputStatistics(seconds=1.0, sample_rate=1000)
    mean, std = stats.current()
    assert float(mean) == 0.0 and float(std) == 0.0  # nothing heard yet
    steady = 0.5 + 0.2 * rng.standard_normal((2, 20_000))
    for block in np.split(steady, 40, axis=1):
        stats.update(block)
    mono = steady.mean(axis=0)
    mean, std = stats.current()
    assert float(mean) == pytest.approx(mono.mean(), abs=0.01) and float(std) == pytest.approx(mono.std(), rel=0.05)
    for block in np.split(4.0 * rng.standard_normal((2, 10_000)), 20, axis=1):  # ten time constants louder
        stats.update(block)
    assert float(stats.current()[1]) == pytest.approx(4.0 / np.sqrt(2), rel=0.05)
    stats.reset()
    assert float(stats.current()[1]) == 0.0


def test_the_stream_gives_its_long_term_statistics_to_the_networks(rng):
    """A waveform network sees the running statistics of everything heard so far, not its window's."""
    seen = []

    class Recording(GainModel):
        def __call__(self, mix, statistics=None):
            seen.append((float(mix.mean(1).std()), float(statistics[1])))
            return super().__call__(mix)

    processor = StreamProcessor({"demucs": Recording([1, 1, 1, 1])}, lambda: {"demucs": (1, 1, 1, 1)}, SETTINGS)
    loud = rng.standard_normal((2, 200_000)).astype(np.float32)
    quiet = 0.01 * rng.standard_normal((2, 50_000)).astype(np.float32)
    _stream(processor, np.concatenate([loud, quiet], axis=1), 4096)
    window_std, given_std = seen[-1]
    # one second into the quiet part the window is quiet, but the 20 s memory still holds the loud part
    assert window_std < 0.02 and given_std > 0.3
    processor.reset()
    _stream(processor, quiet, 4096)
    assert seen[-1][1] == pytest.approx(0.01 / np.sqrt(2), rel=0.1)


def test_a_short_context_is_raised_to_what_the_network_accepts():
    """`--context 0.25` with all three models: the live U-Net's five poolings need a 0.72 s window,
    so its context grows to fill it; the others keep the 0.25 s asked for."""
    from dannasep.engine.models.configs import load_model_config

    timing = LiveTiming(hop=8 * HOP_LENGTH, crossfade=HOP_LENGTH, lookahead=0, context=round(0.25 * 44100))
    unet, demucs = load_model_config("unet", "live").build(), load_model_config("demucs", "live").build()
    unet_window, demucs_window = timing.window(unet), timing.window(demucs)
    assert unet_window.lookahead == timing.crossfade + unet.min_lookahead_samples()  # 4 frames
    window = unet_window.context + timing.hop + unet_window.lookahead
    assert unet.min_input_length() <= window < unet.min_input_length() + HOP_LENGTH
    assert demucs_window.context == 11 * HOP_LENGTH  # 0.25 s on the STFT grid
    assert unet.inference == load_model_config("unet", "live").build().inference  # the model is untouched
    estimators = {"unet": SimpleNamespace(model=unet), "demucs": SimpleNamespace(model=demucs)}
    processor = StreamProcessor(estimators, lambda: {}, StreamSettings(timing))  # the same windows
    assert processor.windows == {"unet": unet_window, "demucs": demucs_window}


def test_the_costliest_model_is_dropped_when_hops_keep_coming_late(rng):
    from dannasep.engine.streaming.worker import Degrader, dropped_mask, dropped_models

    processor = StreamProcessor(
        {"xumx": GainModel([1, 0, 0, 0]), "demucs": GainModel([0, 1, 0, 0])},
        lambda: {"xumx": (0.5, 0.5, 0.5, 0.5), "demucs": (0.5, 0.5, 0.5, 0.5)},
        SETTINGS,
    )
    hop, latency = SETTINGS.timing.hop, 3 * SETTINGS.timing.hop
    degrader = Degrader(processor, latency, late_limit=3, window=16)
    processor.compute_seconds = {"xumx": 0.2, "demucs": 0.1}  # on average, not just once
    starting = [degrader.after_hop(k, 10**9) for k in range(10)]  # late while starting up: ignored
    on_time = [degrader.after_hop(k, k * hop + latency) for k in range(10, 20)]  # just in time
    assert starting + on_time == [None] * 20 and not processor.dropped
    late = [degrader.after_hop(k, k * hop + latency + 1) for k in range(20, 23)]
    assert late == [None, None, "xumx"] and processor.dropped == {"xumx"}
    mask = dropped_mask(("xumx", "unet", "demucs"), processor.dropped)
    assert mask == 1.0 and dropped_models(("xumx", "unet", "demucs"), mask) == ("xumx",)
    # the last model is never dropped, however late
    assert all(degrader.after_hop(k, 10**9) is None for k in range(23, 200)) and processor.dropped == {"xumx"}
    # without it, the remaining model's weights are renormalised: demucs now carries the whole bass
    signal = rng.standard_normal((2, 60_000)).astype(np.float32)
    stems, dry = _stream(processor, signal, 4096)
    assert np.allclose(stems[1], dry, atol=1e-5) and np.allclose(stems[0], 0.0)


def test_a_lane_weighs_its_models_against_those_other_lanes_run(rng):
    """Split between two processes, the lanes' partial fusions add up to the one-process fusion,
    before and after a model in the other lane is dropped."""
    weights = {"xumx": (0.5, 0.2, 0.0, 1.0), "demucs": (0.5, 0.8, 1.0, 0.0)}
    models = {"xumx": GainModel([1, 2, 3, 4], taps=5), "demucs": GainModel([4, 3, 2, 1], taps=9)}
    signal = rng.standard_normal((2, 60_000)).astype(np.float32)
    whole = _stream(StreamProcessor(models, lambda: weights, SETTINGS), signal, 4096)[0]
    lanes = [
        StreamProcessor({m: models[m]}, lambda: weights, SETTINGS, models=("xumx", "demucs"))
        for m in ("xumx", "demucs")
    ]
    parts = [_stream(lane, signal, 4096)[0] for lane in lanes]
    assert np.allclose(parts[0] + parts[1], whole, atol=1e-5)
    for lane in lanes:
        lane.reset()
        lane.dropped.add("xumx")
    alone = _stream(lanes[1], signal, 4096)[0]
    assert not _stream(lanes[0], signal, 4096)[0].any()
    only_demucs = _stream(StreamProcessor({"demucs": models["demucs"]}, lambda: weights, SETTINGS), signal, 4096)[0]
    assert np.allclose(alone, only_demucs, atol=1e-5)  # renormalised over what still runs


def test_models_are_split_between_lanes_by_cost():
    from dannasep.engine.streaming.lanes import split_models

    assert split_models(("xumx", "unet", "demucs"), 1) == (("xumx", "unet", "demucs"),)
    assert split_models(("xumx", "unet", "demucs"), 2) == (("unet",), ("xumx", "demucs"))
    assert split_models(("xumx", "unet", "demucs"), 5) == (("unet",), ("xumx",), ("demucs",))
    assert split_models(("demucs",), 2) == (("demucs",),)
    with pytest.raises(ValueError, match="at least 1"):
        split_models(("demucs",), 0)


def test_lane_totals_take_the_slowest_lane_and_count_every_overrun():
    from dannasep.engine.streaming.lanes import LaneTotals
    from dannasep.engine.streaming.worker import (
        STAT_COMPUTE_MAX,
        STAT_COMPUTE_TOTAL,
        STAT_HOPS,
        STAT_OVERRUNS,
        STAT_SIZE,
    )

    def lane(hops: int, total: float, worst: float, overruns: int) -> SimpleNamespace:
        stats = np.zeros(STAT_SIZE)
        stats[[STAT_HOPS, STAT_COMPUTE_TOTAL, STAT_COMPUTE_MAX, STAT_OVERRUNS]] = hops, total, worst, overruns
        return SimpleNamespace(stats=stats)

    totals = LaneTotals.of([lane(10, 2.0, 0.5, 1), lane(9, 4.5, 0.6, 2)])
    assert totals == LaneTotals(hops=9, mean_compute=0.5, worst_compute=0.6, overruns=3)
    assert LaneTotals.of([]) == LaneTotals(hops=0, mean_compute=0.0, worst_compute=0.0, overruns=0)


def test_exercising_the_networks_between_pushes_changes_nothing_in_the_stream(rng):
    """The worker exercises the networks while no input comes (keeping them warm): every network
    runs at its live window shape, and the stream (history, Wiener filter, statistics) is untouched."""
    from dannasep.engine.separation.estimators import StemEstimator
    from tests.tiny_networks import tiny_network

    signal = (0.1 * rng.standard_normal((2, 5 * 8 * HOP_LENGTH))).astype(np.float32)
    outputs, shapes = [], []
    for exercise in (False, True):
        estimators = {a: StemEstimator(tiny_network(a), precision="fp32") for a in ("xumx", "demucs")}
        for estimator in estimators.values():
            forward = estimator.network
            estimator.network = lambda x, *a, f=forward, **k: shapes.append(tuple(x.shape)) or f(x, *a, **k)
        weights = {a: (1.0, 1.0, 1.0, 1.0) for a in estimators}
        processor = StreamProcessor(estimators, lambda w=weights: w, SETTINGS)
        hops = []
        for start in range(0, signal.shape[1], 5000):
            if exercise:
                before = len(shapes)
                processor.exercise()
                assert len(shapes) == before + 2
            hops += processor.push(signal[:, start : start + 5000])
        outputs.append(np.concatenate([h.stems for h in hops], -1))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert len(set(shapes)) == 2  # the exercise ran each network at the shape of its stream
