"""X-UMX: four Open-Unmix branches bridged by averaging, as in the authors' code.

The four per-source branches run fused: grouped 1×1 convolutions stand in for the per-source linear
layers, so parameter names and shapes match the authors' ``X_UMX`` state dict (and the asteroid
checkpoint maps onto it slice by slice). Dataflow for B batch, T frames:

    |X| (B, 2, 2049, T) -> crop to max_bins -> per-source (|X| + mean_s)·scale_s
    -> affine1 (grouped, 4 × Linear(2·max_bins -> H), BN, tanh) -> mean over sources: cross_1 (B, H, T)
    -> 4 BLSTMs on cross_1, averaged; concat with cross_1 -> (B, 2H, T)
    -> affine2 (Linear(2H -> 4H), BN, ReLU, grouped 4 × Linear(H -> 2·2049), BN)
    -> ·output_scale_s + output_mean_s -> ReLU -> masks (B, 4, 2, 2049, T)
"""

from dataclasses import dataclass

import torch
from torch import nn

from dannasep.engine.constants import HOP_LENGTH, MAX_BINS, N_FFT, SOURCES
from dannasep.engine.models.base import SeparationNet, register


@dataclass(frozen=True)
class XUMXConfig:
    hidden_channels: int = 512
    max_bins: int = MAX_BINS
    nb_channels: int = 2
    nb_layers: int = 3
    n_fft: int = N_FFT
    lstm_dropout: float = 0.4
    bidirectional: bool = True


@register
class XUMX(SeparationNet):
    """Magnitude (B, C, 2049, T) -> non-negative masks (B, 4, C, 2049, T)."""

    architecture = "xumx"
    input_domain = "magnitude"
    config_class = XUMXConfig

    def __init__(self, config: XUMXConfig, **kwargs):
        super().__init__(config, **kwargs)
        c = config
        bins_out = c.n_fft // 2 + 1
        n_src = len(SOURCES)
        self.max_bins = c.max_bins
        self.nb_output_bins = bins_out
        self.input_means = nn.Parameter(torch.zeros(n_src * c.max_bins))
        self.input_scale = nn.Parameter(torch.ones(n_src * c.max_bins))
        self.output_means = nn.Parameter(torch.zeros(n_src * bins_out))
        self.output_scale = nn.Parameter(torch.ones(n_src * bins_out))
        hidden = c.hidden_channels
        self.affine1 = nn.Sequential(
            nn.Conv1d(c.nb_channels * c.max_bins * n_src, hidden * n_src, 1, bias=False, groups=n_src),
            nn.BatchNorm1d(hidden * n_src),
            nn.Tanh(),
        )
        lstm_hidden = hidden // 2 if c.bidirectional else hidden
        for name in SOURCES:
            self.add_module(
                f"{name}_lstm",
                nn.LSTM(
                    input_size=hidden,
                    hidden_size=lstm_hidden,
                    num_layers=c.nb_layers,
                    dropout=c.lstm_dropout if c.nb_layers > 1 else 0.0,
                    bidirectional=c.bidirectional,
                ),
            )
        self.affine2 = nn.Sequential(
            nn.Conv1d(hidden * 2, hidden * n_src, 1, bias=False),
            nn.BatchNorm1d(hidden * n_src),
            nn.ReLU(inplace=True),
            nn.Conv1d(hidden * n_src, c.nb_channels * bins_out * n_src, 1, bias=False, groups=n_src),
            nn.BatchNorm1d(c.nb_channels * bins_out * n_src),
        )

    def min_lookahead_samples(self) -> int:
        return N_FFT // 2 + HOP_LENGTH

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        batch, channels, bins, frames = magnitude.shape
        n_src = len(SOURCES)
        x = magnitude[..., : self.max_bins, :].unsqueeze(1)
        x = (x + self.input_means.view(n_src, 1, -1, 1)) * self.input_scale.view(n_src, 1, -1, 1)
        cross_1 = self.affine1(x.reshape(batch, -1, frames)).view(batch, n_src, -1, frames).mean(1)
        seq = cross_1.permute(2, 0, 1)  # (T, B, H): the LSTMs are time-major
        lstm_sum = sum(getattr(self, f"{name}_lstm")(seq)[0] for name in SOURCES)
        cross_2 = torch.cat([seq, lstm_sum / n_src], dim=2).permute(1, 2, 0)
        mask = self.affine2(cross_2).view(batch, n_src, channels, bins, frames)
        mask = mask * self.output_scale.view(n_src, 1, -1, 1) + self.output_means.view(n_src, 1, -1, 1)
        return mask.relu()
