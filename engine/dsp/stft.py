"""STFT and inverse STFT with the settings all three Danna-Sep models were trained with.

n_fft = window = 4096, hop = 1024, periodic Hann window, centred frames with reflect padding,
one-sided, not normalised, as the authors' models expect. A signal of L samples gives 1 + L // 1024 frames.
"""

from functools import lru_cache

import torch

from dannasep.engine.constants import HOP_LENGTH, N_FFT


@lru_cache(maxsize=8)
def _hann(n_fft: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Cached, so it must never be an inference tensor: one made under inference_mode would break
    # every later autograd use (training after a validation pass).
    with torch.inference_mode(False):
        return torch.hann_window(n_fft, periodic=True, device=device, dtype=dtype)


def num_frames(length: int, hop: int = HOP_LENGTH) -> int:
    """Frames a centred STFT yields for a signal of `length` samples."""
    return 1 + length // hop


def stft(x: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP_LENGTH) -> torch.Tensor:
    """Complex STFT of a real signal.

    Args:
        x: (..., time) real, time > n_fft // 2 (reflect padding needs it).
    Returns:
        (..., n_fft // 2 + 1, frames) complex, frames = 1 + time // hop.
    """
    if x.shape[-1] <= n_fft // 2:
        raise ValueError(f"signal of {x.shape[-1]} samples is too short for a centred {n_fft}-point STFT")
    lead = x.shape[:-1]
    spec = torch.stft(
        x.reshape(-1, x.shape[-1]),
        n_fft,
        hop,
        n_fft,
        _hann(n_fft, x.device, x.dtype),
        center=True,
        pad_mode="reflect",
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec: torch.Tensor, length: int | None = None, n_fft: int = N_FFT, hop: int = HOP_LENGTH) -> torch.Tensor:
    """Inverse of :func:`stft`.

    Args:
        spec: (..., n_fft // 2 + 1, frames) complex.
        length: samples to return; None gives (frames - 1) * hop as the authors' code does.
    Returns:
        (..., length) real.
    """
    lead = spec.shape[:-2]
    real_dtype = spec.real.dtype
    wav = torch.istft(
        spec.reshape(-1, *spec.shape[-2:]),
        n_fft,
        hop,
        n_fft,
        _hann(n_fft, spec.device, real_dtype),
        center=True,
        normalized=False,
        onesided=True,
        length=length,
    )
    return wav.reshape(*lead, wav.shape[-1])
