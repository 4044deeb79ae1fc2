"""Multichannel Wiener filter (MWF) refining spectrogram estimates, as Danna-Sep applies it.

This is the EM scheme of norbert.wiener with ``use_softmask=False`` (as Danna-Sep calls it), written with
torch so it is differentiable (the X-UMX loss trains through it) and vectorised over frames:

1. y_j = v_j · e^{i∠x}: every source starts with the mixture phase (0 iterations stops here).
2. x and y are divided by s = max(1, max|x| / 10).
3. Each EM iteration: v_j = mean over channels of |y_j|²; R_j(f) = Σ_t y_j y_jᴴ / (eps + Σ_t v_j);
   C_xx = Σ_j v_j R_j + √eps·I; y_j = v_j R_j C_xx⁻¹ x.

The covariances R_j are pooled over blocks of at most `window_frames` frames so memory stays flat
on long inputs; each block is filtered exactly as norbert would filter it alone. Arithmetic is in
float64/complex128 as in the authors' code. For speed, the stereo case uses the structure of the
problem: R_j and C_xx are Hermitian (real diagonals), C_xx⁻¹x is computed once for all sources,
and the first iteration reads R_j straight from the magnitudes and the inter-channel phase instead
of building the initial estimates.
"""

import math
from typing import NamedTuple

import torch

from dannasep.engine.dsp import cancel


def wiener(
    magnitudes: torch.Tensor,
    mix_stft: torch.Tensor,
    n_iter: int = 1,
    window_frames: int | None = None,
    eps: float | None = None,
) -> torch.Tensor:
    """Filter source magnitude estimates against the mixture STFT.

    Args:
        magnitudes: (..., source, channel, freq, frame) non-negative source magnitudes V = mask·|X|.
        mix_stft: (..., channel, freq, frame) complex mixture STFT X; channel is 1 or 2.
        n_iter: EM iterations (Danna-Sep uses 1; 0 is plain masking with the mixture phase).
        window_frames: pool the spatial covariances over blocks of this many frames (None: all).
        eps: regularisation; None uses the float64 machine epsilon, as norbert does.
    Returns:
        (..., source, channel, freq, frame) complex source STFTs in the dtype of `mix_stft`.
    """
    channels = mix_stft.shape[-3]
    if channels not in (1, 2):
        raise ValueError(f"the Wiener filter handles 1 or 2 channels, got {channels}")
    if magnitudes.shape[-3:] != mix_stft.shape[-3:]:
        raise ValueError(f"magnitudes {tuple(magnitudes.shape)} do not match the mixture {tuple(mix_stft.shape)}")
    out_dtype = mix_stft.dtype
    x = mix_stft.to(torch.complex128)
    v = magnitudes.to(torch.float64)
    if n_iter == 0:
        return (v * _unit_phase(x).unsqueeze(-4)).to(out_dtype)
    eps = torch.finfo(torch.float64).eps if eps is None else eps
    frames = x.shape[-1]
    block = frames if window_frames is None else max(1, window_frames)
    pieces = [
        _em_block(v[..., start : start + block], x[..., start : start + block], n_iter, eps, out_dtype)
        for start in range(0, frames, block)
    ]
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)


def _em_block(v: torch.Tensor, x: torch.Tensor, n_iter: int, eps: float, out_dtype: torch.dtype) -> torch.Tensor:
    """EM over one pooling block of frames, computed a band of bins at a time.

    Everything but the global scale is independent per bin, so bands keep the float64
    temporaries small enough to stay in cache instead of streaming ~50 MB arrays per operation.
    """
    scale = _global_scale(x)
    em = _em_stereo if x.shape[-3] == 2 else _em_mono
    bins = x.shape[-2]
    band = max(1, _BAND_ELEMENTS // max(1, v.shape[-4] * x.shape[-1]))
    bands = []
    for lo in range(0, bins, band):
        cancel.point()
        bands.append(em(v[..., lo : lo + band, :], x[..., lo : lo + band, :], scale, n_iter, eps).to(out_dtype))
    return bands[0] if len(bands) == 1 else torch.cat(bands, dim=-2)


_BAND_ELEMENTS = 1 << 18  # sources × bins × frames per band: ~2 MB per float64 temporary


def _unit_phase(x: torch.Tensor) -> torch.Tensor:
    """e^{i∠x}, with angle 0 where x = 0 (as numpy's angle gives). x / |x| rather than
    exp(i·angle(x)): two transcendental passes fewer."""
    magnitude = x.abs()
    safe = magnitude.clamp(min=torch.finfo(magnitude.dtype).tiny)  # no 0/0 even in the branch not taken
    return torch.where(magnitude > 0, x / safe, torch.ones_like(x))


def _global_scale(x: torch.Tensor) -> torch.Tensor:
    """max(1, max|x| / 10) per leading batch item, shaped (..., 1, 1)."""
    return (x.abs().flatten(-3).amax(-1) / 10.0).clamp(min=1.0)[..., None, None]


def _weighted_sum(v: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Σ_j v_j(f, t) · r_j(f). v: (..., J, F, T) real, r: (..., J, F) real -> (..., F, T)."""
    return (v * r.unsqueeze(-1)).sum(dim=-3)


class StereoMoments(NamedTuple):
    """Per-frame second moments of stereo source estimates, each (..., J, F, T) float64:
    |y_j0|², |y_j1|² and the real and imaginary parts of y_j0·conj(y_j1)."""

    p00: torch.Tensor
    p11: torch.Tensor
    cross_re: torch.Tensor
    cross_im: torch.Tensor

    @property
    def power(self) -> torch.Tensor:
        """v_j: the mean over channels of |y_j|²."""
        return 0.5 * (self.p00 + self.p11)


class SpatialCovariance(NamedTuple):
    """R_j per bin, each (..., J, F) float64; Hermitian, so R_10 = conj(R_01)."""

    r00: torch.Tensor
    r11: torch.Tensor
    r01_re: torch.Tensor
    r01_im: torch.Tensor


def initial_moments(magnitude: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor) -> StereoMoments:
    """Moments of y_j = V_j·e^{i∠x} without building y: |y_j,c| = V_j,c, and y_j0·conj(y_j1) carries
    the mixture's inter-channel phase. magnitude (..., J, 2, F, T); x0, x1 (..., F, T) complex."""
    m0, m1 = magnitude[..., 0, :, :], magnitude[..., 1, :, :]
    m01 = m0 * m1
    phase = _unit_phase(x0 * x1.conj())
    return StereoMoments(m0.square(), m1.square(), m01 * phase.real.unsqueeze(-3), m01 * phase.imag.unsqueeze(-3))


def moments_of(y0r, y0i, y1r, y1i) -> StereoMoments:
    return StereoMoments(
        y0r.square() + y0i.square(), y1r.square() + y1i.square(), y0r * y1r + y0i * y1i, y0i * y1r - y0r * y1i
    )


def pooled_covariance(sums: StereoMoments, weight: torch.Tensor) -> SpatialCovariance:
    """R_j = Σ y_j y_jᴴ / weight from moments already summed over frames (each (..., J, F))."""
    return SpatialCovariance(sums.p00 / weight, sums.p11 / weight, sums.cross_re / weight, sums.cross_im / weight)


def apply_stereo_filter(
    v: torch.Tensor, cov: SpatialCovariance, x0: torch.Tensor, x1: torch.Tensor, loading: float
) -> tuple[torch.Tensor, ...]:
    """y_j = v_j R_j C_xx⁻¹ x with C_xx = Σ_j v_j R_j + loading·I, frame by frame.

    v: (..., J, F, T) powers; x0, x1: (..., F, T) complex mixture channels.
    Returns (y0r, y0i, y1r, y1i), each (..., J, F, T). Complex quantities are carried as
    (real, imaginary) pairs: most factors are real (powers, R's diagonal, C_xx's diagonal and
    determinant), and real arithmetic avoids promoting them to complex at every product.
    """
    a0, b0, a1, b1 = x0.real, x0.imag, x1.real, x1.imag
    c00 = _weighted_sum(v, cov.r00) + loading
    c11 = _weighted_sum(v, cov.r11) + loading
    c01r, c01i = _weighted_sum(v, cov.r01_re), _weighted_sum(v, cov.r01_im)
    inv_det = 1.0 / (c00 * c11 - (c01r.square() + c01i.square()))
    # z = C_xx⁻¹ x, shared by all sources
    z0r = ((c11 * a0 - (c01r * a1 - c01i * b1)) * inv_det).unsqueeze(-3)
    z0i = ((c11 * b0 - (c01r * b1 + c01i * a1)) * inv_det).unsqueeze(-3)
    z1r = ((c00 * a1 - (c01r * a0 + c01i * b0)) * inv_det).unsqueeze(-3)
    z1i = ((c00 * b1 - (c01r * b0 - c01i * a0)) * inv_det).unsqueeze(-3)
    q00, q11 = cov.r00.unsqueeze(-1), cov.r11.unsqueeze(-1)
    qr, qi = cov.r01_re.unsqueeze(-1), cov.r01_im.unsqueeze(-1)
    return (
        v * (q00 * z0r + qr * z1r - qi * z1i),
        v * (q00 * z0i + qr * z1i + qi * z1r),
        v * (qr * z0r + qi * z0i + q11 * z1r),
        v * (qr * z0i - qi * z0r + q11 * z1i),
    )


def stack_stereo(y0r, y0i, y1r, y1i) -> torch.Tensor:
    """(..., J, F, T) parts -> (..., J, 2, F, T) complex."""
    return torch.stack([torch.complex(y0r, y0i), torch.complex(y1r, y1i)], dim=-3)


def _em_stereo(magnitude: torch.Tensor, x: torch.Tensor, scale: torch.Tensor, n_iter: int, eps: float) -> torch.Tensor:
    """EM on one band. magnitude: (..., J, 2, F, T) float64, x: (..., 2, F, T) complex128,
    scale: (..., 1, 1) the block's global scale."""
    x0, x1 = x[..., 0, :, :] / scale, x[..., 1, :, :] / scale
    s = scale.unsqueeze(-3)  # broadcast over sources
    moments = initial_moments(magnitude / s.unsqueeze(-3), x0, x1)
    for iteration in range(n_iter):
        v = moments.power
        summed = StereoMoments(*(m.sum(-1) for m in moments))
        y = apply_stereo_filter(v, pooled_covariance(summed, eps + v.sum(-1)), x0, x1, math.sqrt(eps))
        if iteration + 1 < n_iter:
            moments = moments_of(*y)
    return stack_stereo(*y) * s.unsqueeze(-3)


def _em_mono(magnitude: torch.Tensor, x: torch.Tensor, scale: torch.Tensor, n_iter: int, eps: float) -> torch.Tensor:
    """EM on one single-channel block; R_j is then a scalar per bin."""
    x0 = x[..., 0, :, :] / scale
    s = scale.unsqueeze(-3)
    power = (magnitude[..., 0, :, :] / s).square()
    for _ in range(n_iter):
        r = power.sum(-1) / (eps + power.sum(-1))
        c = _weighted_sum(power, r) + math.sqrt(eps)
        y0 = power * r.unsqueeze(-1) * (x0 / (c + eps)).unsqueeze(-3)
        power = y0.real.square() + y0.imag.square()
    return y0.unsqueeze(-3) * s.unsqueeze(-3)
