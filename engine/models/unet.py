"""U-Net of D3 blocks with two 2-D local-attention layers at the bottleneck, as in the authors' code.

Encoder: 6 D3 blocks, each followed by 2×2 average pooling; the pooled outputs of the first five
are the skips. Bottleneck: two multi-head local attention layers (BN, ReLU after each), whose
output is concatenated to their input. Decoder: 5 × (D3 block, stride-2 transposed conv, BN,
ReLU, Dropout2d on the first three), each padded to and concatenated with its skip; a head of a
stride-2 transposed conv and a dilated 3×3 conv gives 8 sigmoid maps (source-major: s·2 + ch).
Bins above the modelled range and the last frame get the constant mask 0.25 (the authors' quirk).

Input is the raw linear magnitude; no normalisation. Parameter names follow the authors' code so
their TorchScript weights load unchanged.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dannasep.engine.constants import HOP_LENGTH, MAX_BINS, N_FFT, SOURCES
from dannasep.engine.models.base import SeparationNet, register


class D2Block(nn.Module):
    """Multi-dilated dense block: z_l = ReLU(BN(Σ_{i<l} conv_{i->l}(z_i))), dilation 2^i for source i.

    conv_layers[i] produces the contributions of z_i to all later layers at once (k·(L-i)
    channels, chunked). Output: concat(z_1..z_L) with k·L channels.
    """

    def __init__(self, in_channels: int, growth: int, layers: int):
        super().__init__()
        self.layers = layers
        self.conv_layers = nn.ModuleList(
            nn.Conv2d(
                growth if i else in_channels,
                growth * (layers - i),
                3,
                padding=2**i,
                dilation=2**i,
                bias=False,
            )
            for i in range(layers)
        )
        self.bn_layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(growth), nn.ReLU(inplace=True)) for _ in range(layers)
        )
        self.out_channels = growth * layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pending: list[torch.Tensor] = []  # pending[j]: running sum for layer (current + 1 + j)
        outputs = []
        for i in range(self.layers):
            parts = self.conv_layers[i](x).chunk(self.layers - i, dim=1)
            pending = list(parts) if i == 0 else [p + q for p, q in zip(pending, parts, strict=True)]
            x = self.bn_layers[i](pending.pop(0))
            outputs.append(x)
        return torch.cat(outputs, dim=1)


def batch_norm_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The (scale, shift) per channel that an eval-mode BatchNorm applies."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


@torch.no_grad()
def fold_into_conv(conv: nn.Conv2d | nn.ConvTranspose2d, scale: torch.Tensor, shift: torch.Tensor, rows: slice) -> None:
    """Make output channels `rows` of `conv` produce scale · y + shift."""
    out_dim = 1 if isinstance(conv, nn.ConvTranspose2d) else 0  # transposed weights are (in, out, kh, kw)
    shape = [1] * conv.weight.dim()
    shape[out_dim] = -1
    conv.weight[(slice(None),) * out_dim + (rows,)] *= scale.view(shape)
    if conv.bias is None:
        conv.bias = nn.Parameter(torch.zeros(conv.out_channels, dtype=conv.weight.dtype), requires_grad=False)
    conv.bias[rows] = conv.bias[rows] * scale + shift


def fold_d2_batch_norms(block: D2Block) -> None:
    """Inference only: layer l's BatchNorm is affine per channel and its input is a sum of
    convolution outputs (chunk l − i of conv i, for i ≤ l), so it folds into those convolutions'
    weights, its shift into conv l's bias. Saves one pass over every full-resolution activation."""
    growth = block.out_channels // block.layers
    for layer in range(block.layers):
        scale, shift = batch_norm_affine(block.bn_layers[layer][0])
        for i in range(layer + 1):
            rows = slice((layer - i) * growth, (layer - i + 1) * growth)
            fold_into_conv(block.conv_layers[i], scale, shift if i == layer else torch.zeros_like(shift), rows)
        block.bn_layers[layer] = nn.Sequential(nn.ReLU(inplace=True))


def fold_sequential_batch_norms(sequence: nn.Sequential) -> None:
    """Inference only: fold each BatchNorm that directly follows a bias-free convolution into it."""
    modules = list(sequence)
    for k in range(len(modules) - 1, 0, -1):
        conv, bn = modules[k - 1], modules[k]
        if isinstance(bn, nn.BatchNorm2d) and isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and conv.bias is None:
            fold_into_conv(conv, *batch_norm_affine(bn), slice(None))
            del modules[k]
    sequence._modules.clear()
    for k, module in enumerate(modules):
        sequence.add_module(str(k), module)


class D3Block(nn.Module):
    """Two densely connected D2 blocks: a = D2(x), b = D2([x, a]); output [x, a, b]."""

    def __init__(self, in_channels: int, growth: int, layers: int, blocks: int = 2):
        super().__init__()
        self.d2_layers = nn.ModuleList()
        channels = in_channels
        for _ in range(blocks):
            self.d2_layers.append(D2Block(channels, growth, layers))
            channels += growth * layers
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for d2 in self.d2_layers:
            features.append(d2(features[0] if len(features) == 1 else torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


class LocalAttention2d(nn.Module):
    """Multi-head attention local in time over the whole frequency axis (Parmar et al. style).

    Queries are blocks of `query_frames` frames × all bins; each attends to the same bins over
    the block widened by `flange` frames on both sides (zero-padded at the edges). As in the
    authors' code, padded keys get a bias of -1e-9 rather than -1e9, i.e. they are not masked.

    (B, in, F, T) -> (B, out, F, T).
    """

    def __init__(
        self, in_channels: int, out_channels: int, d_model: int, heads: int = 8, query_frames: int = 2, flange: int = 3
    ):
        super().__init__()
        self.heads = heads
        self.d_model = d_model
        self.query_frames = query_frames
        self.flange = flange
        self.qkv_conv = nn.Conv2d(in_channels, d_model * 3, 3, padding=1)
        self.out_conv = nn.Conv2d(d_model, out_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, bins, frames = x.shape
        qf, fl, heads = self.query_frames, self.flange, self.heads
        depth = self.d_model // heads
        qkv = self.qkv_conv(x)
        padded = -(-frames // qf) * qf
        qkv = F.pad(qkv, (0, padded - frames))
        q, k, v = qkv.view(batch, heads, 3 * depth, bins, padded).chunk(3, dim=2)
        q = q * depth**-0.5
        k = F.pad(k, (fl, fl))
        v = F.pad(v, (fl, fl))
        blocks = padded // qf
        span = qf + 2 * fl
        # (B, H, d, F, blocks, qf) -> (B·H·blocks, F·qf, d)
        q = q.reshape(batch, heads, depth, bins, blocks, qf).permute(0, 1, 4, 3, 5, 2)
        q = q.reshape(-1, bins * qf, depth)
        # (B, H, d, F, blocks, span) -> keys (N, d, F·span), values (N, F·span, d)
        k = k.unfold(-1, span, qf).permute(0, 1, 4, 2, 3, 5).reshape(q.shape[0], depth, bins * span)
        v = v.unfold(-1, span, qf).permute(0, 1, 4, 3, 5, 2).reshape(q.shape[0], bins * span, depth)
        pad_bias = (k.abs().sum(-2, keepdim=True) == 0).to(k.dtype) * -1e-9
        weights = (q @ k + pad_bias).softmax(dim=-1)
        out = (weights @ v).view(batch, heads, blocks, bins, qf, depth)
        out = out.permute(0, 1, 5, 3, 2, 4).reshape(batch, heads * depth, bins, padded)
        return self.out_conv(out[..., :frames])


@dataclass(frozen=True)
class UNetConfig:
    max_bins: int = MAX_BINS
    growth: int = 12
    levels: int = 6
    attention_channels: int = 256
    attention_d_model: int = 128
    attention_heads: int = 8
    attention_query_frames: int = 2
    attention_flange: int = 3
    decoder_dropout: float = 0.4
    dropout_levels: int = 3
    n_fft: int = N_FFT


def _block_layers(level: int, levels: int) -> int:
    return max(2, levels - level - 1)


@register
class UNetAttention(SeparationNet):
    """Magnitude (B, 2, 2049, T) -> sigmoid masks (B, 4, 2, 2049, T)."""

    architecture = "unet"
    input_domain = "magnitude"
    config_class = UNetConfig

    def __init__(self, config: UNetConfig, **kwargs):
        super().__init__(config, **kwargs)
        c = config
        self.max_bins = c.max_bins
        self.down_convs = nn.ModuleList()
        channels = 2
        filters = []
        for level in range(c.levels):
            d3 = D3Block(channels, c.growth, _block_layers(level, c.levels))
            self.down_convs.append(nn.Sequential(d3, nn.AvgPool2d(2, 2)))
            channels = d3.out_channels
            filters.append(channels)

        att = c.attention_channels
        attention_args = dict(
            d_model=c.attention_d_model,
            heads=c.attention_heads,
            query_frames=c.attention_query_frames,
            flange=c.attention_flange,
        )
        self.attn = nn.Sequential(
            LocalAttention2d(channels, att, **attention_args),
            nn.BatchNorm2d(att),
            nn.ReLU(inplace=True),
            LocalAttention2d(att, att, **attention_args),
            nn.BatchNorm2d(att),
            nn.ReLU(inplace=True),
        )

        self.up_convs = nn.ModuleList()
        concat = att
        for level in range(c.levels - 2, -1, -1):
            d3 = D3Block(filters[level + 1] + concat, c.growth, _block_layers(level, c.levels))
            stage: list[nn.Module] = [
                d3,
                nn.ConvTranspose2d(d3.out_channels, filters[level], 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(filters[level]),
                nn.ReLU(inplace=True),
            ]
            if len(self.up_convs) < c.dropout_levels:
                stage.append(nn.Dropout2d(c.decoder_dropout))
            self.up_convs.append(nn.Sequential(*stage))
            concat = filters[level]

        n_out = len(SOURCES) * 2
        self.end = nn.Sequential(
            nn.ConvTranspose2d(concat * 2, concat, 5, 2, 2, bias=False),
            nn.BatchNorm2d(concat),
            nn.ReLU(inplace=True),
            nn.Conv2d(concat, n_out, 3, padding=2, dilation=2),
        )

    def min_lookahead_samples(self) -> int:
        return N_FFT // 2 + HOP_LENGTH

    @torch.no_grad()
    def fuse_for_inference(self) -> None:
        """Fold the BatchNorms of the dense blocks and of the up-sampling stages into
        their convolutions (outputs equal to float rounding; the state dict no longer matches a
        checkpoint)."""
        self.eval()
        for module in self.modules():
            if isinstance(module, D2Block):
                fold_d2_batch_norms(module)
        for stage in [*self.up_convs, self.end]:
            fold_sequential_batch_norms(stage)
        self.inference_only = True

    def min_input_length(self) -> int:
        # each level halves the frames; the deepest pooling needs two (centred STFT: 1 + n // hop)
        return (2**self.config.levels - 1) * HOP_LENGTH

    def time_grid_samples(self) -> int:
        # every level pools frames in pairs, and the attention at the bottom groups its queries
        return HOP_LENGTH * 2**self.config.levels * self.config.attention_query_frames

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        batch, channels, bins, frames = magnitude.shape
        x = magnitude[:, :, : self.max_bins]
        if self.inference_only:  # the weights are channels-last (cpu_inference.py): so are the activations
            x = x.contiguous(memory_format=torch.channels_last)
        skips = []
        for down in self.down_convs:
            x = down(x)
            skips.append(x)
        skips.pop()  # the deepest level feeds the attention, not a skip
        x = torch.cat([x, self.attn(x)], dim=1)
        for up, skip in zip(self.up_convs, reversed(skips), strict=True):
            x = up(x)
            x = F.pad(x, (0, skip.shape[3] - x.shape[3], 0, skip.shape[2] - x.shape[2]))
            x = torch.cat([x, skip], dim=1)
        x = self.end(x).sigmoid()
        x = F.pad(x, (0, frames - x.shape[3], 0, bins - x.shape[2]), value=0.25)
        return x.view(batch, len(SOURCES), channels, bins, frames)
