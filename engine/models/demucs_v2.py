"""Demucs v2 (facebookresearch/demucs, branch v2), the baseline the paper compares against.

Same encoder as the four-decoder model; a BLSTM + Linear(2C -> C) bottleneck; one shared decoder
of [Conv1d(C -> 2C, k=context, no padding), GLU, ConvTranspose1d(k8, s4), ReLU] per level, with
centre-trimmed skips added before it. Inputs are padded (centred) to a valid length and the output
is centre-trimmed back, as demucs' ``apply_model`` does, so output length equals input length.
Parameter names match the released ``demucs48_hq`` state dict.
"""

import math
from dataclasses import dataclass

import julius
import torch
import torch.nn.functional as F
from torch import nn

from dannasep.engine.constants import SOURCES
from dannasep.engine.models.base import SeparationNet, register
from dannasep.engine.models.demucs import encoder_level, rescale_conv_weights


class BLSTM(nn.Module):
    """Bidirectional LSTM over time, projected back to the input width. (B, C, T) -> (B, C, T)."""

    def __init__(self, dim: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(bidirectional=True, num_layers=layers, hidden_size=dim, input_size=dim)
        self.linear = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lstm(x.permute(2, 0, 1))[0]
        return self.linear(x).permute(1, 2, 0)


def center_trim(tensor: torch.Tensor, length: int) -> torch.Tensor:
    delta = tensor.shape[-1] - length
    if delta < 0:
        raise ValueError(f"cannot trim {tensor.shape[-1]} samples to {length}")
    return tensor[..., delta // 2 : tensor.shape[-1] - (delta - delta // 2)]


@dataclass(frozen=True)
class DemucsV2Config:
    channels: int = 48
    depth: int = 6
    kernel_size: int = 8
    stride: int = 4
    context: int = 3
    growth: float = 2.0
    lstm_layers: int = 2
    rescale: float = 0.1
    resample: bool = True
    normalize: bool = False
    audio_channels: int = 2


@register
class DemucsV2(SeparationNet):
    """Waveform (B, 2, L) -> waveforms (B, 4, 2, L)."""

    architecture = "demucs_v2"
    input_domain = "waveform"
    config_class = DemucsV2Config

    def __init__(self, config: DemucsV2Config, **kwargs):
        super().__init__(config, **kwargs)
        c = config
        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        in_channels, channels = c.audio_channels, c.channels
        for index in range(c.depth):
            self.encoder.append(encoder_level(in_channels, channels, c.kernel_size, c.stride))
            out_channels = in_channels if index > 0 else len(SOURCES) * c.audio_channels
            stage: list[nn.Module] = [
                nn.Conv1d(channels, 2 * channels, c.context),
                nn.GLU(dim=1),
                nn.ConvTranspose1d(channels, out_channels, c.kernel_size, c.stride),
            ]
            if index > 0:
                stage.append(nn.ReLU())
            self.decoder.insert(0, nn.Sequential(*stage))
            in_channels, channels = channels, int(c.growth * channels)
        self.lstm = BLSTM(in_channels, c.lstm_layers) if c.lstm_layers else None
        rescale_conv_weights(self, c.rescale)

    def valid_length(self, length: int) -> int:
        """Smallest input length >= `length` that the network maps without remainder."""
        c = self.config
        if c.resample:
            length *= 2
        for _ in range(c.depth):
            length = math.ceil((length - c.kernel_size) / c.stride) + 1
            length = max(1, length)
            length += c.context - 1
        for _ in range(c.depth):
            length = (length - 1) * c.stride + c.kernel_size
        if c.resample:
            length = math.ceil(length / 2)
        return int(length)

    @property
    def normalises_input(self) -> bool:
        return self.config.normalize

    def forward_raw(
        self, mix: torch.Tensor, statistics: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """The network as demucs v2 defines it: (B, 2, valid) -> (B, 4, 2, shorter)."""
        c = self.config
        x = mix
        if c.normalize and statistics is not None:
            mean, std = (s.to(mix.dtype) for s in statistics)
        elif c.normalize:
            mono = mix.mean(dim=1, keepdim=True)
            mean = mono.mean(dim=-1, keepdim=True)
            std = mono.std(dim=-1, keepdim=True)
        else:
            mean, std = 0.0, 1.0
        x = (x - mean) / (1e-5 + std)
        if c.resample:
            x = julius.resample_frac(x, 1, 2)
        saved = []
        for encode in self.encoder:
            x = encode(x)
            saved.append(x)
        if self.lstm is not None:
            x = self.lstm(x)
        for decode in self.decoder:
            x = decode(x + center_trim(saved.pop(-1), x.shape[-1]))
        if c.resample:
            x = julius.resample_frac(x, 2, 1)
        x = x * std + mean
        return x.view(x.size(0), len(SOURCES), c.audio_channels, x.size(-1))

    def forward(self, wav: torch.Tensor, statistics: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        length = wav.shape[-1]
        delta = self.valid_length(length) - length
        padded = F.pad(wav, (delta // 2, delta - delta // 2))
        return center_trim(self.forward_raw(padded, statistics), length)
