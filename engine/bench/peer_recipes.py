"""The peers' inference recipes, rebuilt around given networks for `dannasep bench peers`.

Each maps a (2, N) float32 mixture to (4, 2, N) float32 stems in SOURCES order, the way the
peer's own code runs its model: whole tracks, numpy Wiener filters in complex128, no channels-last.

* `demucs_apply_model`: demucs 2.0.3's ``separate.py`` call of ``apply_model``.
* `asteroid_xumx`: ``separate()`` of asteroid's ``egs/musdb18/X-UMX/eval.py``.
* `authors_fusion`: the Danna-Sep authors' ``danna_sep`` package (cli.py, infer.py).
"""

import warnings
from collections.abc import Callable, Mapping

import norbert
import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F
from asteroid.complex_nn import torch_complex_from_magphase
from asteroid.models.x_umx import BrokenXUMX
from demucs.model import Demucs
from demucs.utils import apply_model
from torch import nn

from dannasep.engine.constants import HOP_LENGTH, N_FFT, SAMPLE_RATE, SOURCES
from dannasep.engine.dsp.stft import istft, stft

AUTHORS_UNET_CHUNK_FRAMES = 2584
"""The authors run the U-Net on the magnitude in chunks of this many frames (~60 s)."""
AUTHORS_MIN_CHUNK_FRAMES = 128
"""Their GPU path zero-pads a shorter last chunk to this many frames (and crops the masks); their
CPU path does not and fails when the last chunk is one frame long (a 5:00.000 song at 44.1 kHz),
so this recipe takes the guard from the GPU path."""
AUTHORS_DEMUCS_PREFIX = SAMPLE_RATE // 2
"""demucs_sep with shifts=1 prepends 0.5 s of zeros and reads the output after it."""
AUTHORS_DEMUCS_CLAMP = 0.99


def demucs_apply_model(model: Demucs, mix: np.ndarray) -> np.ndarray:
    """``apply_model(model, mix, shifts=0, split=True, overlap=0.25)``, as demucs' CLI calls it:
    chunks of ``model.segment_length`` (40 s) with 25 % overlap and a triangular cross-fade.

    The CLI also standardises the whole track around this call (and undoes it after). That is
    left out: our Demucs v2 path does not do it, and with it the outputs would differ by how the
    random network responds to a rescaled input rather than by the recipe.
    """
    with torch.no_grad():
        return apply_model(model, torch.from_numpy(mix), shifts=0, split=True, overlap=0.25).numpy()


def asteroid_xumx(model: BrokenXUMX, mix: np.ndarray) -> np.ndarray:
    """asteroid's X-UMX recipe: the whole track through the model's own STFT and masker,
    V = masks·|X|, ``norbert.wiener(V, X in complex128, 1 iteration, no softmask)``, then scipy's
    iSTFT per source. With N a multiple of the hop every sample comes back; otherwise the last
    N mod 1024 samples stay zero, as that iSTFT does not produce them."""
    audio = torch.from_numpy(mix)[None]
    with torch.no_grad(), warnings.catch_warnings():
        # asteroid's STFT asks for return_complex=False, which torch deprecates
        warnings.simplefilter("ignore", UserWarning)
        masked, _ = model(audio)  # (sources, frames, 1, channels, bins) = masks·|X|
        magnitude, phase = model.encoder(audio)  # (frames, 1, channels, bins), (1, channels, bins, frames)
    v = masked[:, :, 0].numpy().transpose(1, 3, 2, 0)  # (frames, bins, channels, sources)
    x = torch_complex_from_magphase(magnitude.permute(1, 2, 3, 0), phase)[0].numpy().transpose(2, 1, 0)
    y = norbert.wiener(v, x.astype(np.complex128), 1, use_softmask=False)  # (frames, bins, channels, sources)
    stems = np.zeros((len(SOURCES), *mix.shape), dtype=np.float32)
    for j in range(len(SOURCES)):
        _, audio_hat = scipy.signal.istft(
            y[..., j].T / (N_FFT / 2), SAMPLE_RATE, nperseg=N_FFT, noverlap=N_FFT - HOP_LENGTH, boundary=True
        )
        kept = min(audio_hat.shape[-1], mix.shape[-1])
        stems[j, :, :kept] = audio_hat[:, :kept]
    return stems


def authors_masking(model: nn.Module, audio: torch.Tensor, chunk_frames: int | None = None) -> torch.Tensor:
    """``tf_sep``: STFT, masks (the U-Net on `chunk_frames`-frame chunks, X-UMX whole), V = masks·|X|,
    norbert's Wiener filter on the whole track in complex128, iSTFT in float64.

    Args:
        audio: (2, N) float32.
    Returns:
        (4, 2, (frames - 1)·hop) float32. Our stft/istft are the same calls (centred, reflect-padded
        periodic Hann, no length given).
    """
    spec = stft(audio)  # (2, F, T)
    with torch.no_grad():
        magnitude = spec.abs()
        if chunk_frames:
            masked = torch.cat([_chunk_masks(model, chunk) for chunk in magnitude.split(chunk_frames, -1)], dim=-1)
        else:
            masked = model(magnitude.unsqueeze(0)).squeeze(0)
        masked *= magnitude  # (4, 2, F, T)
    v = masked.numpy().transpose(3, 2, 1, 0)  # (T, F, 2, 4)
    x = spec.permute(2, 1, 0).numpy()
    y = torch.from_numpy(norbert.wiener(v, x.astype(np.complex128), 1, use_softmask=False)).permute(3, 2, 1, 0)
    return istft(y).float()


def _chunk_masks(model: nn.Module, magnitude: torch.Tensor) -> torch.Tensor:
    """(2, F, T) -> (4, 2, F, T) masks, a chunk under AUTHORS_MIN_CHUNK_FRAMES zero-padded first."""
    frames = magnitude.shape[-1]
    if frames >= AUTHORS_MIN_CHUNK_FRAMES:
        return model(magnitude.unsqueeze(0)).squeeze(0)
    padded = F.pad(magnitude, (0, AUTHORS_MIN_CHUNK_FRAMES - frames))
    return model(padded.unsqueeze(0)).squeeze(0)[..., :frames]


def authors_demucs(model: nn.Module, audio: torch.Tensor) -> torch.Tensor:
    """``demucs_sep(shifts=1)``: one pass over [0.5 s zeros, track], read after the prefix, samples
    past the network's shorter output left at zero, clamped to ±0.99. (2, N) -> (4, 2, N)."""
    length = audio.shape[-1]
    with torch.no_grad():
        out = model(F.pad(audio, (AUTHORS_DEMUCS_PREFIX, 0))[None])[0]
    stems = torch.zeros(len(SOURCES), *audio.shape)
    kept = min(length, out.shape[-1] - AUTHORS_DEMUCS_PREFIX)
    stems[..., :kept] = out[..., AUTHORS_DEMUCS_PREFIX : AUTHORS_DEMUCS_PREFIX + kept]
    return stems.clamp(-AUTHORS_DEMUCS_CLAMP, AUTHORS_DEMUCS_CLAMP)


AUTHORS_STEPS: tuple[tuple[str, Callable[[nn.Module, torch.Tensor], torch.Tensor]], ...] = (
    ("unet", lambda model, audio: authors_masking(model, audio, AUTHORS_UNET_CHUNK_FRAMES)),
    ("demucs", authors_demucs),
    ("xumx", authors_masking),
)
"""The authors' order (U-Net, Demucs, X-UMX) and each model's recipe."""


def authors_fusion(
    load: Callable[[str], nn.Module], weights: Mapping[str, tuple[float, ...]], mix: np.ndarray
) -> np.ndarray:
    """cli.py: pad 1024 zeros at the end; for each model in turn, load it, separate the whole
    track, crop and add it with its per-source weights (waveform fusion).

    Args:
        load: architecture -> network, called just before its use, as the CLI loads each model in
            the loop (the previous one stays referenced until then, as there).
        weights: architecture -> per-source weights in SOURCES order.
    """
    audio = torch.from_numpy(mix)
    length = audio.shape[-1]
    padded = F.pad(audio, (0, HOP_LENGTH))
    result = torch.zeros(len(SOURCES), *audio.shape)
    for architecture, separate in AUTHORS_STEPS:
        model = load(architecture)
        pred = separate(model, padded)
        result += pred[..., :length] * torch.tensor(weights[architecture]).view(-1, 1, 1)
    return result.numpy()
