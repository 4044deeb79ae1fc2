"""The losses against values worked out by hand on tiny inputs."""

import math

import pytest
import torch

from dannasep.engine.dsp.stft import stft
from dannasep.training.losses import (
    SUBSETS,
    CombinationLoss,
    WaveformL1Loss,
    combination_sdr_loss,
    complex_mse,
    sdr,
    weighted_sdr,
)


def test_there_are_fourteen_subsets_singles_first():
    assert len(SUBSETS) == 14
    assert SUBSETS[:4] == ((0,), (1,), (2,), (3,))
    assert sum(len(s) == 2 for s in SUBSETS) == 6 and sum(len(s) == 3 for s in SUBSETS) == 4


def test_complex_mse_by_hand():
    # one bin: source 0 is off by 1+1j, the others exact. 7 of the 14 subsets contain source 0,
    # each with squared error |1+1j|² = 2, so the mean is 7·2/14 = 1.
    estimate = torch.zeros(1, 4, 1, 1, 1, dtype=torch.complex64)
    estimate[0, 0] = 1 + 1j
    assert complex_mse(estimate, torch.zeros_like(estimate)).item() == pytest.approx(1.0)
    # a real-only error of 3 on source 2 over 2 bins of which one is wrong: 7 subsets × 9 / 2 bins / 14
    estimate = torch.zeros(1, 4, 1, 2, 1, dtype=torch.complex64)
    estimate[0, 2, 0, 1] = 3
    assert complex_mse(estimate, torch.zeros_like(estimate)).item() == pytest.approx(7 * 9 / 2 / 14)


def test_weighted_sdr_by_hand():
    y = torch.tensor([[1.0, 0.0]])
    n = torch.tensor([[0.0, 1.0]])
    m = y + n
    # a perfect estimate: -alpha·1 - (1 - alpha)·1 = -1
    assert weighted_sdr(y, y, m).item() == pytest.approx(-1.0)
    # a silent estimate: alpha = 1/2, cos(y, 0) = 0, cos(n, m) = 1/√2
    assert weighted_sdr(torch.zeros_like(y), y, m).item() == pytest.approx(-0.5 / math.sqrt(2), abs=1e-6)
    # the sign-flipped estimate: cos(y, -y) = -1; m - ŷ = 2y + n, cos(n, 2y + n) = 1/√5
    assert weighted_sdr(-y, y, m).item() == pytest.approx(0.5 - 0.5 / math.sqrt(5), abs=1e-6)


def test_combination_sdr_loss_is_zero_for_perfect_estimates_and_in_range():
    target = torch.randn(2, 4, 2, 500)
    mixture = target.sum(1)
    assert combination_sdr_loss(target, target, mixture).item() == pytest.approx(0.0, abs=1e-6)
    noisy = combination_sdr_loss(torch.randn(2, 4, 2, 500), target, mixture).item()
    assert 0.0 < noisy <= 2.0


def test_combination_loss_with_exact_quarter_masks_is_zero():
    # every source is mixture / 4 and every mask 0.25: mask·X is exact, so L_f = 0 and L_t = 0
    mixture = torch.randn(1, 2, 8192)
    sources = (mixture / 4).unsqueeze(1).expand(-1, 4, -1, -1).contiguous()
    mix_spec = stft(mixture)
    masks = torch.full((1, 4, 2, *mix_spec.shape[-2:]), 0.25)
    for iterations in (None, 1):
        terms = CombinationLoss(wiener_iterations=iterations)(masks, mix_spec, stft(sources), sources, mixture)
        assert terms.total.item() == pytest.approx(0.0, abs=1e-4)


def test_l1_crops_the_target_to_the_shorter_estimate():
    target = torch.arange(10.0).view(1, 1, 1, 10).expand(1, 4, 2, 10)
    estimate = target[..., :7] + 0.5
    assert WaveformL1Loss()(estimate, target).total.item() == pytest.approx(0.5)


def test_validation_sdr_by_hand():
    reference = torch.ones(1, 2, 100)
    estimate = reference * 0.9  # error energy is 1% of the signal: 20 dB
    assert sdr(estimate, reference).item() == pytest.approx(20.0, abs=1e-3)


def _naive_combination_sdr(estimate, target, mixture):
    """The loss written the slow, obvious way: materialise every subset sum."""
    from dannasep.training.losses import subset_sums

    length = estimate.shape[-1]
    est = subset_sums(estimate).reshape(-1, length)
    tgt = subset_sums(target[..., :length]).reshape(-1, length)
    mix = mixture[..., :length].reshape(1, -1, length).expand(14, -1, -1).reshape(-1, length)
    return 1.0 + weighted_sdr(est.double(), tgt.double(), mix.double())


def test_gram_forms_equal_the_materialised_subsets():
    from dannasep.training.losses import subset_sums

    torch.manual_seed(0)
    target = torch.randn(3, 4, 2, 700)
    estimate = target + 0.3 * torch.randn_like(target)
    mixture = target.sum(1) + 0.01 * torch.randn(3, 2, 700)
    assert combination_sdr_loss(estimate, target, mixture).item() == pytest.approx(
        _naive_combination_sdr(estimate, target, mixture).item(), abs=1e-6
    )
    spec_est = torch.randn(2, 4, 2, 9, 5, dtype=torch.complex64)
    spec_tgt = torch.randn(2, 4, 2, 9, 5, dtype=torch.complex64)
    diff = subset_sums(spec_est) - subset_sums(spec_tgt)
    naive = (diff.real.square() + diff.imag.square()).flatten(1).mean(1).mean()
    assert complex_mse(spec_est, spec_tgt).item() == pytest.approx(naive.item(), rel=1e-5)
