"""Faster CPU inference without changing weights or results beyond float rounding.

oneDNN runs convolutions faster in channels-last layout: 2-D convs (the U-Net), and 1-D convs
(Demucs) when expressed as 2-D convs over a height-1 image. The conversion
swaps the class of each Conv1d / ConvTranspose1d to a subclass that does exactly that, so the
state dict, parameter names and checkpoints are untouched.

bf16 precision casts a network's weights and activations to bfloat16. On CPUs that compute bf16
natively (AVX512-BF16 or AMX) the paper-size networks run faster and their outputs stay close to
fp32 (README, Benchmarks). The whole network is cast rather than autocast because the U-Net's
dense blocks would spend their time concatenating activations in mixed precisions. The STFT, the Wiener filter
and the fusion stay in float32/complex128. "auto" picks bf16 where it is native, fp32 elsewhere
(emulated bf16 would be slower than fp32).
"""

import torch
import torch.nn.functional as F
from torch import nn

from dannasep.engine.cpu_features import resolve_precision


class ChannelsLastConv1d(nn.Conv1d):
    """A Conv1d computed as a channels-last Conv2d over a height-1 image."""

    def _conv_forward(self, x, weight, bias):
        if self.padding_mode != "zeros":
            return super()._conv_forward(x, weight, bias)
        x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        w4 = weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        y = F.conv2d(x4, w4, bias, (1, self.stride[0]), (0, self.padding[0]), (1, self.dilation[0]), self.groups)
        return y.squeeze(2)


class ChannelsLastConvTranspose1d(nn.ConvTranspose1d):
    """A ConvTranspose1d computed as a channels-last ConvTranspose2d over a height-1 image."""

    def forward(self, x, output_size=None):
        if output_size is not None or self.padding_mode != "zeros":
            return super().forward(x, output_size)
        x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        w4 = self.weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        y = F.conv_transpose2d(
            x4,
            w4,
            self.bias,
            (1, self.stride[0]),
            (0, self.padding[0]),
            (0, self.output_padding[0]),
            self.groups,
            (1, self.dilation[0]),
        )
        return y.squeeze(2)


class BiasAfterConvTranspose2d(nn.ConvTranspose2d):
    """A ConvTranspose2d that adds its bias after the convolution: oneDNN's transposed convolution
    takes a much slower path when given the bias (folded BatchNorms give every one a bias)."""

    def forward(self, x, output_size=None):
        if self.bias is None or output_size is not None or self.padding_mode != "zeros":
            return super().forward(x, output_size)
        y = F.conv_transpose2d(
            x, self.weight, None, self.stride, self.padding, self.output_padding, self.groups, self.dilation
        )
        return y.add_(self.bias.view(1, -1, 1, 1))


def prepare_for_cpu_inference(model: nn.Module) -> nn.Module:
    """Eval mode, no grads, inference rewrites (`fuse_for_inference`), channels-last convolutions.
    Returns the same module."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if hasattr(model, "fuse_for_inference"):
        model.fuse_for_inference()
    has_conv2d = False
    for module in model.modules():
        if type(module) is nn.Conv1d:
            module.__class__ = ChannelsLastConv1d
        elif type(module) is nn.ConvTranspose1d:
            module.__class__ = ChannelsLastConvTranspose1d
        elif type(module) is nn.ConvTranspose2d:
            module.__class__ = BiasAfterConvTranspose2d
        elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            has_conv2d = True
    if has_conv2d:
        model.to(memory_format=torch.channels_last)
    return model


def cast_to_precision(model: nn.Module, precision: str) -> torch.dtype:
    """Casts `model`'s floating weights and buffers in place; returns the dtype its input must have.

    A network whose runtime owns its weights (no parameters: TorchScript/ONNX backends) stays in
    float32 whatever was asked.
    """
    if resolve_precision(precision) == "bf16" and next(model.parameters(), None) is not None:
        model.to(torch.bfloat16)
        return torch.bfloat16
    return torch.float32
