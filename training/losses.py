"""The training losses of Danna-Sep, as the paper and the authors' training code define them.

Spectrogram models (X-UMX, U-Net): loss = L_f + 10 · L_t over the 14 source combinations (every
subset of 1, 2 or 3 of the 4 sources; a subset's estimate and target are sums over it):
    L_f  complex MSE: mean over subsets of Σ|Ŷ_c − Y_c|² / (B·C·F·T)
    L_t  1 + mean weighted-SDR loss (Choi et al.) over (batch·channel) rows of every subset, where
         wSDR(ŷ, y, m) = −α·cos(y, ŷ) − (1−α)·cos(m−y, m−ŷ), α = |y|² / (|y|² + |m−y|² + 1e-10).
Ŷ is the Wiener-filtered estimate (1 EM iteration, differentiable, complex128) for X-UMX and plain
complex masking (mask·X, the mixture phase) for the U-Net; ŷ = iSTFT(Ŷ) with (T−1)·1024 samples.

Demucs: plain L1 between waveforms, the target cropped to the network's shorter output.
"""

from dataclasses import dataclass
from itertools import chain, combinations

import torch

from dannasep.engine.dsp.stft import istft
from dannasep.engine.dsp.wiener import wiener

SUBSETS: tuple[tuple[int, ...], ...] = tuple(
    chain(combinations(range(4), 1), combinations(range(4), 2), combinations(range(4), 3))
)
_INDICATORS = torch.tensor(
    [[1.0 if s in subset else 0.0 for s in range(4)] for subset in SUBSETS], dtype=torch.float64
)  # (14, 4): which sources each subset sums


def subset_sums(x: torch.Tensor) -> torch.Tensor:
    """(B, 4, ...) -> (14, B, ...): the sum over each source subset, singles first."""
    return torch.stack([x[:, list(subset)].sum(dim=1) for subset in SUBSETS])


# Every quantity the losses need for a subset is a bilinear form of inner products between the
# four sources (and the mixture), so the losses are computed from small Gram matrices instead of
# materialising 14 sums of full signals: identical values, a fraction of the time and memory.


def complex_mse(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the 14 subsets of Σ|estimate_c − target_c|² / numel. Both (B, 4, C, F, T) complex."""
    diff = (estimate - target).transpose(0, 1).reshape(4, -1)  # (4, B·C·F·T)
    gram = torch.view_as_real(diff).flatten(1).double()  # Re(d_s · conj(d_s')) = real dot of (re, im)
    gram = gram @ gram.T
    a = _INDICATORS.to(gram.device)
    per_subset = torch.einsum("ks,st,kt->k", a, gram, a) / diff.shape[1]
    return per_subset.mean().to(estimate.real.dtype)


def weighted_sdr(estimate: torch.Tensor, target: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """Mean weighted-SDR loss over rows. All (rows, time); values lie in [-1, 1]."""
    noise, noise_est = mixture - target, mixture - estimate

    def dot(a, b):
        return (a * b).sum(dim=-1)

    return _wsdr_from_dots(
        dot(target, target),
        dot(estimate, estimate),
        dot(target, estimate),
        dot(noise, noise),
        dot(noise_est, noise_est),
        dot(noise, noise_est),
    ).mean()


def _wsdr_from_dots(tt, ee, te, nn, mm_hat, nn_hat):
    """wSDR per row from |y|², |ŷ|², y·ŷ, |m−y|², |m−ŷ|², (m−y)·(m−ŷ)."""
    tt, ee, nn, mm_hat = tt.relu(), ee.relu(), nn.relu(), mm_hat.relu()
    alpha = tt / (nn + tt + 1e-10)
    clean = te / (tt.sqrt() * ee.sqrt() + 1e-10)
    residual = nn_hat / (nn.sqrt() * mm_hat.sqrt() + 1e-10)
    return -alpha * clean - (1 - alpha) * residual


def combination_sdr_loss(estimate: torch.Tensor, target: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """1 + mean wSDR over the 14 subsets and every (batch, channel) row.

    estimate, target: (B, 4, C, L); mixture: (B, C, L).
    """
    length = estimate.shape[-1]
    rows = estimate.shape[0] * estimate.shape[2]
    e = estimate.transpose(1, 2).reshape(rows, 4, length)
    t = target[..., :length].transpose(1, 2).reshape(rows, 4, length)
    m = mixture[..., :length].reshape(rows, 1, length)
    v = torch.cat([e, t, m], dim=1).double()  # (rows, 9, L)
    gram = v @ v.transpose(1, 2)  # (rows, 9, 9)
    ee, tt, te = gram[:, :4, :4], gram[:, 4:8, 4:8], gram[:, 4:8, :4]
    em, tm, mm = gram[:, :4, 8], gram[:, 4:8, 8], gram[:, 8, 8].unsqueeze(1)
    a = _INDICATORS.to(gram.device)  # (14, 4)

    def quad(g):  # a_kᵀ g a_k for every subset k: (rows, 14)
        return torch.einsum("ks,rst,kt->rk", a, g, a)

    sub_tt, sub_ee, sub_te = quad(tt), quad(ee), quad(te)
    sub_tm, sub_em = tm @ a.T, em @ a.T
    nn = mm - 2 * sub_tm + sub_tt  # |m − y_c|²
    nn_est = mm - 2 * sub_em + sub_ee  # |m − ŷ_c|²
    n_dot = mm - sub_em - sub_tm + sub_te  # (m − y_c)·(m − ŷ_c)
    return 1.0 + _wsdr_from_dots(sub_tt, sub_ee, sub_te, nn, nn_est, n_dot).mean().to(estimate.dtype)


@dataclass(frozen=True)
class LossTerms:
    total: torch.Tensor
    frequency: float
    time: float


class CombinationLoss(torch.nn.Module):
    """L_f + mcoeff · L_t for mask models. `wiener_iterations` None: plain complex masking."""

    def __init__(self, wiener_iterations: int | None = None, mcoeff: float = 10.0):
        super().__init__()
        self.wiener_iterations = wiener_iterations
        self.mcoeff = mcoeff

    def forward(
        self,
        masks: torch.Tensor,
        mix_spec: torch.Tensor,
        target_spec: torch.Tensor,
        target: torch.Tensor,
        mixture: torch.Tensor,
    ) -> LossTerms:
        """masks (B, 4, C, F, T) >= 0; mix_spec (B, C, F, T) complex; target_spec (B, 4, C, F, T)
        complex; target (B, 4, C, L); mixture (B, C, L)."""
        if self.wiener_iterations:
            estimate_spec = wiener(masks * mix_spec.abs().unsqueeze(1), mix_spec, n_iter=self.wiener_iterations)
        else:
            estimate_spec = masks * mix_spec.unsqueeze(1)
        estimate = istft(estimate_spec)
        loss_f = complex_mse(estimate_spec, target_spec)
        loss_t = combination_sdr_loss(estimate, target, mixture)
        return LossTerms(loss_f + self.mcoeff * loss_t, float(loss_f.detach()), float(loss_t.detach()))


class WaveformL1Loss(torch.nn.Module):
    """Mean |ŷ − y| over (B, 4, C, L'), y cropped to the estimate's length."""

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> LossTerms:
        loss = (estimate - target[..., : estimate.shape[-1]]).abs().mean()
        return LossTerms(loss, 0.0, float(loss.detach()))


def sdr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """The authors' validation SDR per example: 10·log10((‖s‖² + 1e-7) / (‖s − ŝ‖² + 1e-7)), all
    channels and samples of one source flattened. (B, ..., L) -> (B,)."""
    length = min(estimate.shape[-1], reference.shape[-1])
    s = reference[..., :length].reshape(reference.shape[0], -1).double()
    e = estimate[..., :length].reshape(estimate.shape[0], -1).double()
    num = (s * s).sum(-1)
    den = (num + (e * e).sum(-1) - 2 * (e * s).sum(-1)).relu()
    return 10 * (torch.log10(num + 1e-7) - torch.log10(den + 1e-7))
