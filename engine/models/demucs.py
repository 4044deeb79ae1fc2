"""Demucs with four independent decoders (the authors' DemucsSplit).

    waveform (B, 2, L) -> standardise (mono mean/std over time, always) -> ×2 upsample
    -> encoder: depth × [Conv1d(k8, s4), ReLU, Conv1d(1×1 -> 2C), GLU]          (same as Demucs v2)
    -> BLSTM(C_top, 2 layers) -> Linear(2C_top -> 2C_top) = 4 groups of C_top/2, one per source
    -> per level, deepest first: grouped Conv1d(k3) of x + Conv1d(k3) of the (left-cropped) shared
       skip -> per-group GLU -> grouped ConvTranspose1d(k8, s4) (ReLU except last)
    -> /2 downsample -> destandardise -> (B, 4, 2, L'), L' <= L, left-aligned

There is no valid-length padding, so up to ~2047 samples at the end are lost; callers give the
network a little more right context than they keep.
"""

from dataclasses import dataclass

import julius
import torch
from torch import nn

from dannasep.engine.constants import SOURCES
from dannasep.engine.models.base import SeparationNet, register


def rescale_conv_weights(module: nn.Module, reference: float) -> None:
    """Demucs v2 initialisation: divide conv weights and biases by sqrt(std(w) / reference)."""
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, (nn.Conv1d, nn.ConvTranspose1d)):
                scale = (sub.weight.std() / reference) ** 0.5
                sub.weight.div_(scale)
                if sub.bias is not None:
                    sub.bias.div_(scale)


def encoder_level(in_channels: int, channels: int, kernel_size: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(in_channels, channels, kernel_size, stride),
        nn.ReLU(inplace=True),
        nn.Conv1d(channels, channels * 2, 1),
        nn.GLU(dim=1),
    )


@dataclass(frozen=True)
class DemucsConfig:
    channels: int = 48
    depth: int = 6
    kernel_size: int = 8
    stride: int = 4
    lstm_layers: int = 2
    rescale: float = 0.1
    resample: bool = True
    audio_channels: int = 2


@register
class DemucsFourDecoders(SeparationNet):
    """Waveform (B, 2, L) -> waveforms (B, 4, 2, L'), left-aligned, L' <= L."""

    architecture = "demucs"
    input_domain = "waveform"
    config_class = DemucsConfig

    def __init__(self, config: DemucsConfig, **kwargs):
        super().__init__(config, **kwargs)
        c = config
        n_src = len(SOURCES)
        if c.resample:
            self.up_sample = julius.ResampleFrac(1, 2)
            self.down_sample = julius.ResampleFrac(2, 1)
        self.encoder = nn.ModuleList()
        self.convs_1x1 = nn.ModuleList()
        self.dec_pre_convs = nn.ModuleList()
        self.decoder = nn.ModuleList()
        in_channels, channels = c.audio_channels, c.channels
        for index in range(c.depth):
            self.encoder.append(encoder_level(in_channels, channels, c.kernel_size, c.stride))
            out_channels = in_channels * 2 if index > 0 else n_src * c.audio_channels
            # the authors call these 1×1 but their kernel is 3
            self.convs_1x1.insert(0, nn.Conv1d(channels, channels * n_src, 3, padding=1, bias=False))
            self.dec_pre_convs.insert(0, nn.Conv1d(channels * 2, channels * n_src, 3, padding=1, groups=n_src))
            stage: list[nn.Module] = [
                nn.ConvTranspose1d(channels * 2, out_channels, c.kernel_size, c.stride, groups=n_src)
            ]
            if index > 0:
                stage.append(nn.ReLU(inplace=True))
            self.decoder.insert(0, nn.Sequential(*stage))
            in_channels, channels = channels, channels * 2
        top = in_channels
        self.lstm = nn.LSTM(input_size=top, hidden_size=top, num_layers=c.lstm_layers, bidirectional=True)
        self.lstm_linear = nn.Linear(top * 2, top * 2)
        rescale_conv_weights(self, c.rescale)

    def output_length(self, length: int) -> int:
        """Samples the network returns for an input of `length` samples."""
        c = self.config
        n = length * 2 if c.resample else length
        for _ in range(c.depth):
            n = (n - c.kernel_size) // c.stride + 1
        for _ in range(c.depth):
            n = (n - 1) * c.stride + c.kernel_size
        return n // 2 if c.resample else n

    def min_lookahead_samples(self) -> int:
        c = self.config
        return c.stride**c.depth // (2 if c.resample else 1)

    def time_grid_samples(self) -> int:
        return self.min_lookahead_samples()  # the encoders' total stride, in input samples

    def min_input_length(self) -> int:
        c = self.config
        n = 1
        for _ in range(c.depth):
            n = (n - 1) * c.stride + c.kernel_size
        return -(-n // 2) if c.resample else n

    @property
    def normalises_input(self) -> bool:
        return True

    def forward(self, wav: torch.Tensor, statistics: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        n_src = len(SOURCES)
        if statistics is None:
            mono = wav.mean(1, keepdim=True)
            mean, std = mono.mean(dim=-1, keepdim=True), mono.std(dim=-1, keepdim=True)
        else:
            mean, std = (s.to(wav.dtype) for s in statistics)
        std = std + 1e-5
        x = (wav - mean) / std
        if self.config.resample:
            x = self.up_sample(x)
        saved = []
        for encode in self.encoder:
            x = encode(x)
            saved.append(x)
        x = self.lstm(x.permute(2, 0, 1))[0]
        x = self.lstm_linear(x).permute(1, 2, 0)
        for decode, pre_conv, skip_conv in zip(self.decoder, self.dec_pre_convs, self.convs_1x1, strict=True):
            skip = saved.pop()
            x = pre_conv(x) + skip_conv(skip[..., : x.shape[2]])
            a, b = x.view(x.shape[0], n_src, -1, x.shape[2]).chunk(2, dim=2)
            x = decode((a * b.sigmoid()).reshape(x.shape[0], -1, x.shape[2]))
        if self.config.resample:
            x = self.down_sample(x)
        x = x * std + mean
        return x.view(x.shape[0], n_src, self.config.audio_channels, x.shape[-1])
