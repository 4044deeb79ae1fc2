"""The Wiener filter against norbert (the authors' own oracle) and its invariants."""

import norbert
import numpy as np
import pytest
import torch

import dannasep.engine.dsp.wiener as wiener_module
from dannasep.engine.dsp.wiener import wiener


def _random_problem(rng, frames=40, bins=33, channels=2, sources=4):
    x = (rng.standard_normal((frames, bins, channels)) + 1j * rng.standard_normal((frames, bins, channels))) * 20
    x[3, 4] = 0  # a silent bin: the phase of 0 must be 0, as in numpy
    v = np.abs(rng.standard_normal((frames, bins, channels, sources))) * 8
    return v, x


def _ours(v, x, **kwargs):
    """norbert layout (T, F, C, J) in and out, our layout (J, C, F, T) inside."""
    V = torch.from_numpy(v).permute(3, 2, 1, 0)
    X = torch.from_numpy(x).permute(2, 1, 0)
    return wiener(V, X, **kwargs).permute(3, 2, 1, 0).numpy()


@pytest.mark.parametrize("iterations", [0, 1, 2])
@pytest.mark.parametrize("channels", [2, 1])
def test_matches_norbert(rng, iterations, channels):
    v, x = _random_problem(rng, channels=channels)
    ref = norbert.wiener(v.copy(), x.copy(), iterations=iterations, use_softmask=False)
    out = _ours(v, x, n_iter=iterations)
    assert np.abs(out - ref).max() / np.abs(ref).max() < 1e-6


def test_loud_input_exercises_the_global_scale(rng):
    v, x = _random_problem(rng)
    x *= 1000.0
    ref = norbert.wiener(v.copy(), x.copy(), iterations=1, use_softmask=False)
    assert np.abs(_ours(v, x, n_iter=1) - ref).max() / np.abs(ref).max() < 1e-6


def test_pooling_window_filters_each_block_like_norbert_alone(rng):
    v, x = _random_problem(rng, frames=50)
    out = _ours(v, x, n_iter=1, window_frames=20)
    for start in (0, 20, 40):
        block = slice(start, start + 20)
        ref = norbert.wiener(v[block].copy(), x[block].copy(), iterations=1, use_softmask=False)
        assert np.abs(out[block] - ref).max() / np.abs(ref).max() < 1e-6


def test_frequency_bands_do_not_change_the_result(rng, monkeypatch):
    v, x = _random_problem(rng)
    whole = _ours(v, x, n_iter=2)
    monkeypatch.setattr(wiener_module, "_BAND_ELEMENTS", 500)  # forces many bands
    assert np.allclose(_ours(v, x, n_iter=2), whole, rtol=0, atol=1e-12)


def test_batch_items_are_filtered_independently(rng):
    v1, x1 = _random_problem(rng)
    v2, x2 = _random_problem(rng)
    x2 *= 300  # a different global scale
    V = torch.stack([torch.from_numpy(v).permute(3, 2, 1, 0) for v in (v1, v2)])
    X = torch.stack([torch.from_numpy(x).permute(2, 1, 0) for x in (x1, x2)])
    batched = wiener(V, X, n_iter=1)
    for i, (v, x) in enumerate([(v1, x1), (v2, x2)]):
        single = torch.from_numpy(_ours(v, x, n_iter=1)).permute(3, 2, 1, 0)
        assert torch.allclose(batched[i], single, atol=1e-9)


def test_output_dtype_follows_the_mixture_and_sources_sum_to_mix_with_exact_masks(rng):
    x = torch.randn(2, 65, 30, dtype=torch.complex64)
    share = torch.softmax(torch.randn(4, 2, 65, 30), dim=0)
    V = share * x.abs()
    y = wiener(V, x, n_iter=1)
    assert y.dtype == torch.complex64 and y.shape == (4, 2, 65, 30)
    # with masks that split |X| exactly, the filtered sources still add up to (about) the mix
    assert (y.sum(0) - x).abs().max() / x.abs().max() < 1e-3


def test_is_differentiable_for_training():
    x = torch.randn(1, 2, 17, 12, dtype=torch.complex64)
    V = torch.rand(1, 4, 2, 17, 12, requires_grad=True)
    y = wiener(V, x, n_iter=1)
    (y.real.square().sum() + y.imag.sum()).backward()
    assert V.grad is not None and torch.isfinite(V.grad).all() and V.grad.abs().sum() > 0


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="do not match"):
        wiener(torch.rand(4, 2, 10, 5), torch.randn(2, 11, 5, dtype=torch.complex64))


def test_a_cancellation_check_ends_the_filter_between_bands():
    """Render-ahead playback abandons a chunk within one band when the playhead jumps."""
    from dannasep.engine.dsp import cancel

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1025, 256, dtype=torch.complex64, generator=generator)
    v = torch.rand(4, 2, 1025, 256, generator=generator)
    calls = []

    def check() -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("the playhead moved")

    cancel.set_check(check)
    try:
        with pytest.raises(RuntimeError, match="playhead moved"):
            wiener(v, x)
    finally:
        cancel.set_check(None)
    assert calls == [0, 1]
