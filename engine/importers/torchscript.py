"""`dannasep import dannasep-torchscript`: the Danna-Sep authors' TorchScript releases
(unet_attention.pth, demucs_4_decoders.pth) -> our checkpoints.

The archive is opened with ``torch.jit.load`` (TorchScript code and tensors; a plain pickle is
refused, never unpickled). Its state-dict names say which network it is, its shapes give the
config (the paper's when they match it). If the tensors fit our model, our model with them must
reproduce the module on a random input within `TOLERANCE` before a safetensors checkpoint is
written; if they do not fit, the archive itself is installed as a TorchScript backend after a
check of its I/O contract.
"""

from pathlib import Path
from typing import Any

import torch

from dannasep.engine.constants import MAX_BINS, N_FFT, SOURCES
from dannasep.engine.errors import CheckpointError
from dannasep.engine.importers.common import provenance
from dannasep.engine.importers.registry import ImportOptions, ImportResult
from dannasep.engine.models.backends import open_torchscript, save_backend
from dannasep.engine.models.base import SeparationNet, build_model
from dannasep.engine.models.checkpoint import (
    load_state_dict_checked,
    refuse_existing_checkpoint,
    remove_other_weights,
    save_checkpoint,
)
from dannasep.engine.models.configs import load_model_config
from dannasep.engine.models.demucs import DemucsConfig
from dannasep.engine.models.unet import UNetConfig
from dannasep.engine.models.xumx import XUMXConfig

KIND = "dannasep-torchscript"
TOLERANCE = 1e-4
"""Largest accepted max |ours - theirs| / max |theirs| on the verification input."""

# a name only each network has (xumx: the older xumx_mwf.pth release)
_SIGNATURES = {
    "unet": "down_convs.0.0.d2_layers.0.conv_layers.0.weight",
    "demucs": "lstm_linear.weight",
    "xumx": "affine1.0.weight",
}


def detect_architecture(state: dict[str, torch.Tensor], where: str) -> str:
    """Which of our networks a state dict is, from its names."""
    for arch, name in _SIGNATURES.items():
        if name in state:
            return arch
    if "lstm.lstm.weight_ih_l0" in state:
        raise CheckpointError(f"{where}: a one-decoder Demucs v2, not Danna-Sep's four-decoder Demucs")
    sample = ", ".join(list(state)[:3]) or "no tensors"
    raise CheckpointError(f"{where}: not a Danna-Sep U-Net, Demucs or X-UMX (its tensors: {sample}…)")


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    """How many of ``pattern.format(0)``, ``pattern.format(1)``… exist, consecutively."""
    n = 0
    while pattern.format(n) in state:
        n += 1
    return n


def _attribute(module: torch.nn.Module, dotted: str, default: Any) -> Any:
    """A scripted module's attribute (scripting keeps those the code uses; tracing keeps none)."""
    value: Any = module
    for part in dotted.split("."):
        value = getattr(value, part, None)
        if value is None:
            return default
    return value


def infer_config(arch: str, state: dict[str, torch.Tensor], module: torch.nn.Module) -> Any:
    """Our config dataclass for the tensors' shapes; values shapes cannot show come from the
    module's attributes or the defaults (the paper's). Raises KeyError if a needed tensor is absent."""
    n_src = len(SOURCES)
    if arch == "unet":
        layers = _count(state, "down_convs.0.0.d2_layers.0.conv_layers.{}.weight")
        defaults = UNetConfig()
        return UNetConfig(
            max_bins=int(_attribute(module, "max_bins", MAX_BINS)),
            growth=state["down_convs.0.0.d2_layers.0.conv_layers.0.weight"].shape[0] // max(layers, 1),
            levels=_count(state, "down_convs.{}.0.d2_layers.0.conv_layers.0.weight"),
            attention_channels=state["attn.1.weight"].shape[0],
            attention_d_model=state["attn.0.qkv_conv.weight"].shape[0] // 3,
            attention_heads=int(_attribute(module, "attn.0.heads", defaults.attention_heads)),
            attention_query_frames=int(_attribute(module, "attn.0.query_frames", defaults.attention_query_frames)),
            attention_flange=int(_attribute(module, "attn.0.flange", defaults.attention_flange)),
        )
    if arch == "demucs":
        first = state["encoder.0.0.weight"]  # (channels, audio channels, kernel)
        return DemucsConfig(
            channels=first.shape[0],
            depth=_count(state, "encoder.{}.0.weight"),
            kernel_size=first.shape[2],
            stride=int(_attribute(module, "encoder.0.0.stride", (DemucsConfig.stride,))[0]),
            lstm_layers=_count(state, "lstm.weight_ih_l{}"),
            resample="up_sample.kernel" in state,
            audio_channels=first.shape[1],
        )
    max_bins = state["input_means"].numel() // n_src
    return XUMXConfig(
        hidden_channels=state["affine1.1.weight"].numel() // n_src,
        max_bins=max_bins,
        nb_channels=state["affine1.0.weight"].shape[1] // max_bins,
        nb_layers=_count(state, f"{SOURCES[0]}_lstm.weight_ih_l{{}}"),
        bidirectional=f"{SOURCES[0]}_lstm.weight_ih_l0_reverse" in state,
    )


def probe_input(model: SeparationNet) -> torch.Tensor:
    """A small random input every network of `model`'s config accepts: magnitude (1, C, 2049, T)
    with T a few frames past the U-Net's pooling depth, or about two minimum-length waveforms."""
    generator = torch.Generator().manual_seed(0)
    config = model.config
    if model.architecture == "demucs":
        length = 2 * model.min_input_length() + 1000
        return torch.randn(1, config.audio_channels, length, generator=generator)
    channels = getattr(config, "nb_channels", 2)
    frames = 2**config.levels + 3 if model.architecture == "unet" else 7
    return torch.rand(1, channels, N_FFT // 2 + 1, frames, generator=generator)


def relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """max |ours - theirs| / max |theirs|."""
    scale = theirs.double().abs().max().clamp_min(1e-12)
    return float((ours.double() - theirs.double()).abs().max() / scale)


def _check_contract(output: torch.Tensor, probe: torch.Tensor, arch: str, where: str) -> None:
    """The native I/O contract: masks (1, 4, C, F, T) for |X| (1, C, F, T); waveforms
    (1, 4, C, L') with 0 < L' <= L for (1, C, L)."""
    if arch == "demucs":
        fits = output.dim() == 4 and output.shape[:3] == (1, len(SOURCES), probe.shape[1])
        fits = fits and 0 < output.shape[3] <= probe.shape[2]
        expected = f"(1, {len(SOURCES)}, {probe.shape[1]}, L' <= {probe.shape[2]})"
    else:
        expected_shape = (1, len(SOURCES), *probe.shape[1:])
        fits = tuple(output.shape) == expected_shape
        expected = str(expected_shape)
    if not fits:
        raise CheckpointError(
            f"{where}: for a {tuple(probe.shape)} input the module returns {tuple(output.shape)}, "
            f"not the {arch} contract's {expected}"
        )
    if not torch.isfinite(output).all():
        raise CheckpointError(f"{where}: the module returns NaN or infinite values for a {tuple(probe.shape)} input")


def _load_if_fits(model: SeparationNet, state: dict[str, torch.Tensor]) -> str | None:
    """Load `state` into `model` if names and shapes fit and return None; else say why not."""
    try:
        load_state_dict_checked(model, state, "the archive")
    except CheckpointError as exc:
        return str(exc)
    return None


def _run_module(module: torch.nn.Module, probe: torch.Tensor, arch: str, where: str) -> torch.Tensor:
    """The module's output for `probe`, checked against the architecture's I/O contract."""
    try:
        with torch.inference_mode():
            output = module(probe)
    except RuntimeError as exc:  # TorchScript's errors carry the script's traceback: keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{where}: the module fails on a {tuple(probe.shape)} {arch} input ({first})") from exc
    _check_contract(output, probe, arch, where)
    return output


def _verify(model: SeparationNet, probe: torch.Tensor, theirs: torch.Tensor, where: str) -> float:
    """Our model's max relative difference from the module's output; raises above `TOLERANCE`."""
    with torch.inference_mode():
        ours = model(probe)
    arch = model.architecture
    if ours.shape != theirs.shape:
        raise CheckpointError(
            f"{where}: our {arch} with these weights returns {tuple(ours.shape)} where the TorchScript "
            f"module returns {tuple(theirs.shape)}; nothing was written"
        )
    difference = relative_difference(ours, theirs)
    if difference > TOLERANCE:
        raise CheckpointError(
            f"{where}: our {arch} with these weights differs from the TorchScript module by "
            f"{difference:.2e} (max relative, tolerance {TOLERANCE:g}); nothing was written"
        )
    return difference


def run(source: Path, options: ImportOptions) -> ImportResult:
    """Import `source` as ``options.out_dir/<name>.safetensors`` (or ``.ts``); name default <arch>-paper."""
    module = open_torchscript(source).eval()
    state = {k: v.detach() for k, v in module.state_dict().items()}
    arch = detect_architecture(state, str(source))
    name = options.name or f"{arch}-paper"
    refuse_existing_checkpoint(options.out_dir, name, options.overwrite)
    paper = load_model_config(arch, "paper")
    try:
        config = infer_config(arch, state, module)
    except (KeyError, IndexError, ZeroDivisionError):
        config = paper.config  # a layout we cannot read: keep the paper's traits for the backend
    config_name = "paper" if config == paper.config else "imported"
    model = build_model(arch, config, config_name=config_name, inference=paper.inference).eval()
    probe = probe_input(model)
    theirs = _run_module(module, probe, arch, str(source))
    how = "imported from the Danna-Sep authors' TorchScript release"
    mismatch = _load_if_fits(model, state)
    if mismatch is None:
        difference = _verify(model, probe, theirs, str(source))
        path = save_checkpoint(model, options.out_dir, training=provenance(source, KIND, how), name=name)
        note = (
            f"{arch}, {config_name} config; verified against the TorchScript module on a "
            f"{tuple(probe.shape)} input: max relative difference {difference:.1e}"
        )
    else:
        parameters = sum(p.numel() for p in module.parameters())
        training = provenance(source, KIND, how + ", run as TorchScript")
        path = save_backend(
            source,
            options.out_dir,
            name,
            "torchscript",
            type(model),
            config_name,
            config,
            paper.inference,
            parameters,
            training,
        )
        note = f"{mismatch}; installed to run as TorchScript"
    remove_other_weights(path)
    return ImportResult([path], [note])
