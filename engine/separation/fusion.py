"""Fusion: a weighted sum of the models' waveform estimates, after each spectrogram model's Wiener
filter, with a preset's normalised weights (engine.fusion)."""

from collections.abc import Mapping

import torch

from dannasep.engine.fusion.presets import FusionPreset


def fuse(estimates: Mapping[str, torch.Tensor], preset: FusionPreset) -> torch.Tensor:
    """Weighted sum of the models' stems.

    Args:
        estimates: architecture -> (..., source, channel, time) waveforms, same shape for all.
    Returns:
        (..., source, channel, time).
    """
    missing = [arch for arch in preset.models if arch not in estimates]
    if missing:
        raise ValueError(f"fusion needs estimates from {missing}")
    fused = None
    for arch in preset.models:
        est = estimates[arch]
        w = torch.tensor(preset.weights[arch], dtype=est.dtype, device=est.device).view(-1, 1, 1)
        fused = est * w if fused is None else fused + est * w
    return fused
