"""Chunked multi-model separation: exact for linear models, whatever the chunking."""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dannasep.engine.dsp.overlap_add import plan_chunks
from dannasep.engine.fusion.presets import make_preset
from dannasep.engine.models.base import InferenceSettings
from dannasep.engine.models.configs import load_model_config
from dannasep.engine.models.cpu_inference import prepare_for_cpu_inference
from dannasep.engine.separation.estimators import StemEstimator
from dannasep.engine.separation.runner import ChunkPlanSettings, model_window, separate_array


class LinearModel:
    """A stand-in estimator: stem j = FIR_j * mix. Time-invariant, receptive field of `taps`."""

    def __init__(self, gains, taps=1, context=0, segment_seconds=1.0, overlap=0.25, seed=0):
        g = np.random.default_rng(seed).standard_normal((4, taps)) if taps > 1 else np.ones((4, 1))
        self.kernels = torch.tensor(np.asarray(gains)[:, None] * g, dtype=torch.float64)
        self.model = SimpleNamespace(
            inference=InferenceSettings(segment_seconds, overlap, context / 44100),
            traits=SimpleNamespace(context_samples=context),
            min_lookahead_samples=lambda: 0,
            min_input_length=lambda: 1,
        )

    def __call__(self, mix: torch.Tensor) -> torch.Tensor:
        x = mix.double()
        taps = self.kernels.shape[1]
        padded = torch.nn.functional.pad(x, (taps - 1, 0))
        out = torch.stack(
            [
                torch.nn.functional.conv1d(padded.reshape(-1, 1, padded.shape[-1]), k.flip(0).view(1, 1, -1)).reshape(
                    *x.shape
                )
                for k in self.kernels
            ],
            dim=1,
        )
        return out.float()


@pytest.mark.parametrize("length", [5_000, 44_100 * 3 + 11])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5])
def test_gains_fuse_exactly_for_any_chunking(rng, length, overlap):
    mix = rng.standard_normal((2, length)).astype(np.float32)
    models = {
        "xumx": LinearModel([0.1, 0.2, 0.3, 0.4], overlap=overlap),
        "demucs": LinearModel([0.4, 0.3, 0.2, 0.1], overlap=overlap, segment_seconds=0.3),
    }
    preset = make_preset("t", {"xumx": [1, 1, 3, 0], "demucs": [1, 3, 1, 1]})
    stems = separate_array(mix, models, preset)
    expected = np.array([0.25, 0.275, 0.275, 0.1])[:, None, None] * mix
    assert stems.shape == (4, 2, length)
    assert np.allclose(stems, expected, atol=1e-6)


@pytest.mark.slow
def test_context_makes_chunked_output_equal_to_whole_signal_output(rng):
    """Block-size invariance: a filter with a 200-sample memory, given >= 200 samples of context,
    gives the same stems in chunks of any size as on the whole signal at once."""
    mix = rng.standard_normal((2, 30_000)).astype(np.float32)
    preset = make_preset("t", {"unet": [1, 1, 1, 1]})
    whole = LinearModel([1, 1, 1, 1], taps=200, context=256)(torch.from_numpy(mix)[None])[0].numpy()
    for segment, overlap in [(1000, 0.0), (4096, 0.25), (7777, 0.5)]:
        model = LinearModel([1, 1, 1, 1], taps=200, context=256)
        plan = ChunkPlanSettings(segment, overlap, {"unet": 256})
        chunked = separate_array(mix, {"unet": model}, preset, plan=plan)
        assert np.allclose(chunked, whole, atol=1e-5), (segment, overlap)


def test_progress_reaches_the_end(rng):
    mix = rng.standard_normal((2, 100_000)).astype(np.float32)
    seen = []
    separate_array(
        mix,
        {"xumx": LinearModel([1, 1, 1, 1])},
        make_preset("t", {"xumx": [1, 1, 1, 1]}),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (100_000, 100_000) and all(a <= b for (a, _), (b, _) in itertools.pairwise(seen))


class RecordingModel(LinearModel):
    """A LinearModel that remembers the length of every window it was fed."""

    def __init__(self, context: int, edge: int, minimum: int = 1):
        super().__init__([1, 1, 1, 1], context=context)
        self.model.min_lookahead_samples = lambda: edge
        self.model.min_input_length = lambda: minimum
        self.windows: list[int] = []

    def __call__(self, mix: torch.Tensor) -> torch.Tensor:
        self.windows.append(mix.shape[-1])
        return super().__call__(mix)


def test_context_is_not_invented_beyond_the_signal(rng):
    """Context is real audio or nothing: the first window starts at the signal's start, the last
    stops `edge` samples past its end; only the inner edges get the full context."""
    length, segment, context, edge = 500_000, 200_000, 30_000, 512
    model = RecordingModel(context, edge)
    mix = rng.standard_normal((2, length)).astype(np.float32)
    plan = ChunkPlanSettings(segment, 0.1, {"unet": context})
    stems = separate_array(mix, {"unet": model}, make_preset("t", {"unet": [1, 1, 1, 1]}), plan=plan)
    assert np.allclose(stems, mix[None], atol=1e-6)
    chunks = plan_chunks(length, segment, 0.1)
    expected = [model_window(c, context, length, edge, 1) for c in chunks]
    assert expected[0][0] == 0 and expected[-1][1] == length + edge
    assert model.windows == [stop - start for start, stop in expected]
    assert model.windows == [segment + context, segment + 2 * context, length - chunks[-1].start + context + edge]


def test_a_signal_shorter_than_the_network_accepts_is_padded_to_its_minimum(rng):
    model = RecordingModel(context=3_000, edge=512, minimum=20_000)
    mix = rng.standard_normal((2, 1_000)).astype(np.float32)
    stems = separate_array(mix, {"unet": model}, make_preset("t", {"unet": [1, 1, 1, 1]}))
    assert model.windows == [20_000] and np.allclose(stems, mix[None], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["xumx", "unet", "demucs"])
def test_the_real_networks_separate_20_milliseconds(rng, arch):
    """No context is invented at the ends any more, so the U-Net's six poolings and Demucs'
    strides rely on the minimum input length for very short signals."""
    torch.manual_seed(0)
    model = prepare_for_cpu_inference(load_model_config(arch, "paper" if arch == "unet" else "live").build())
    assert model.min_input_length() > 882 or arch == "xumx"
    mix = (0.1 * rng.standard_normal((2, 882))).astype(np.float32)
    stems = separate_array(mix, {arch: StemEstimator(model)}, make_preset("t", {arch: [1, 1, 1, 1]}))
    assert stems.shape == (4, 2, 882) and np.isfinite(stems).all()
