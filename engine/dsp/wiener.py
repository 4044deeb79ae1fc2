"""Multichannel Wiener filter (MWF) refining spectrogram estimates, as Danna-Sep applies it.

This is the EM scheme of norbert.wiener with ``use_softmask=False`` (model-spec §7.1), written with
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

import torch


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
    bands = [
        em(v[..., lo : lo + band, :], x[..., lo : lo + band, :], scale, n_iter, eps).to(out_dtype)
        for lo in range(0, bins, band)
    ]
    return bands[0] if len(bands) == 1 else torch.cat(bands, dim=-2)


_BAND_ELEMENTS = 1 << 18  # sources × bins × frames per band: ~2 MB per float64 temporary


def _unit_phase(x: torch.Tensor) -> torch.Tensor:
    """e^{i∠x}, with angle 0 where x = 0 (as numpy's angle gives)."""
    return torch.exp(1j * x.angle())


def _global_scale(x: torch.Tensor) -> torch.Tensor:
    """max(1, max|x| / 10) per leading batch item, shaped (..., 1, 1)."""
    return (x.abs().flatten(-3).amax(-1) / 10.0).clamp(min=1.0)[..., None, None]


def _weighted_sum(v: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Σ_j v_j(f, t) · r_j(f). v: (..., J, F, T) real, r: (..., J, F) real -> (..., F, T)."""
    return (v * r.unsqueeze(-1)).sum(dim=-3)


def _em_stereo(magnitude: torch.Tensor, x: torch.Tensor, scale: torch.Tensor, n_iter: int, eps: float) -> torch.Tensor:
    """EM on one band. magnitude: (..., J, 2, F, T) float64, x: (..., 2, F, T) complex128,
    scale: (..., 1, 1) the block's global scale.

    Complex quantities are carried as (real, imaginary) float64 pairs: most factors are real
    (powers, R's diagonal, C_xx's diagonal and determinant), and real arithmetic avoids promoting
    them to complex at every product.
    """
    x0, x1 = x[..., 0, :, :] / scale, x[..., 1, :, :] / scale
    a0, b0, a1, b1 = x0.real, x0.imag, x1.real, x1.imag
    s = scale.unsqueeze(-3)  # broadcast over sources
    loading = math.sqrt(eps)
    # iteration 1 from the magnitudes: |y_j,c| = V_j,c / s and y_j0·conj(y_j1) carries the mixture's
    # inter-channel phase, so the initial estimates are never built
    m0, m1 = magnitude[..., 0, :, :] / s, magnitude[..., 1, :, :] / s
    m01 = m0 * m1
    phase = _unit_phase(x0 * x1.conj())
    moments = (m0.square(), m1.square(), m01 * phase.real.unsqueeze(-3), m01 * phase.imag.unsqueeze(-3))
    for iteration in range(n_iter):
        p00, p11, cross_re, cross_im = moments
        v = 0.5 * (p00 + p11)  # (..., J, F, T)
        weight = eps + v.sum(-1)  # (..., J, F)
        r00, r11 = p00.sum(-1) / weight, p11.sum(-1) / weight
        r01r, r01i = cross_re.sum(-1) / weight, cross_im.sum(-1) / weight  # r10 = conj(r01)
        c00 = _weighted_sum(v, r00) + loading
        c11 = _weighted_sum(v, r11) + loading
        c01r, c01i = _weighted_sum(v, r01r), _weighted_sum(v, r01i)
        inv_det = 1.0 / (c00 * c11 - (c01r.square() + c01i.square()))
        # z = C_xx⁻¹ x, shared by all sources
        z0r = (c11 * a0 - (c01r * a1 - c01i * b1)) * inv_det
        z0i = (c11 * b0 - (c01r * b1 + c01i * a1)) * inv_det
        z1r = (c00 * a1 - (c01r * a0 + c01i * b0)) * inv_det
        z1i = (c00 * b1 - (c01r * b0 - c01i * a0)) * inv_det
        z0r, z0i, z1r, z1i = (t.unsqueeze(-3) for t in (z0r, z0i, z1r, z1i))
        q00, q11 = r00.unsqueeze(-1), r11.unsqueeze(-1)
        qr, qi = r01r.unsqueeze(-1), r01i.unsqueeze(-1)
        # y_j = v_j R_j z
        y0r = v * (q00 * z0r + qr * z1r - qi * z1i)
        y0i = v * (q00 * z0i + qr * z1i + qi * z1r)
        y1r = v * (qr * z0r + qi * z0i + q11 * z1r)
        y1i = v * (qr * z0i - qi * z0r + q11 * z1i)
        if iteration + 1 < n_iter:
            moments = (
                y0r.square() + y0i.square(),
                y1r.square() + y1i.square(),
                y0r * y1r + y0i * y1i,
                y0i * y1r - y0r * y1i,
            )  # |y0|², |y1|², y0·conj(y1)
    y = torch.stack([torch.complex(y0r, y0i), torch.complex(y1r, y1i)], dim=-3)
    return y * s.unsqueeze(-3)


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
