"""Upper bounds computed from the true stems: the ideal ratio mask and the ideal multichannel
Wiener filter, both in the models' own STFT so they bound what a mask-based model can reach."""

import numpy as np
import torch

from dannasep.engine.dsp.stft import istft, stft

_EPS = 1e-10
_BINS_PER_BLOCK = 256


def ideal_ratio_mask(sources: np.ndarray, mixture: np.ndarray) -> np.ndarray:
    """mask_j = |S_j| / Σ_k |S_k| applied to the mixture's STFT.

    Args:
        sources: (4, 2, time); mixture: (2, time).
    Returns:
        (4, 2, time) float32.
    """
    spec_sources = stft(torch.from_numpy(sources).float())  # (4, 2, bins, frames) complex
    spec_mix = stft(torch.from_numpy(mixture).float())
    magnitude = spec_sources.abs()
    masks = magnitude / (magnitude.sum(dim=0, keepdim=True) + _EPS)
    return istft(masks * spec_mix.unsqueeze(0), length=mixture.shape[-1]).numpy()


def ideal_wiener_filter(sources: np.ndarray, mixture: np.ndarray) -> np.ndarray:
    """The oracle multichannel Wiener filter: each source's power spectral density v_j(f, t) and
    spatial covariance R_j(f) (over the whole track) from its true STFT, then
    Y_j = v_j R_j (Σ_k v_k R_k)⁻¹ X per bin.

    Args:
        sources: (4, 2, time); mixture: (2, time).
    Returns:
        (4, 2, time) float32.
    """
    s = stft(torch.from_numpy(sources).double()).numpy()  # (4, 2, F, T)
    x = stft(torch.from_numpy(mixture).double()).numpy()  # (2, F, T)
    y = np.empty_like(s)
    for low in range(0, s.shape[2], _BINS_PER_BLOCK):  # frequency blocks keep memory flat
        band = slice(low, low + _BINS_PER_BLOCK)
        y[:, :, band] = _mwf_band(s[:, :, band], x[:, band])
    return istft(torch.from_numpy(y), length=mixture.shape[-1]).float().numpy()


def _mwf_band(s: np.ndarray, x: np.ndarray) -> np.ndarray:
    psd = np.mean(np.abs(s) ** 2, axis=1)  # (4, F, T)
    outer = np.einsum("jaft,jbft->jfab", s, np.conj(s))  # (4, F, 2, 2)
    covariance = outer / (psd.sum(axis=-1)[..., None, None] + _EPS)
    model = psd[..., None, None] * covariance[:, :, None]  # (4, F, T, 2, 2)
    inverse = np.linalg.inv(model.sum(axis=0) + _EPS * np.eye(2))
    return np.einsum("jftab,bft->jaft", model @ inverse[None], x)
