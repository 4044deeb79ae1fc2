"""The project's checkpoint format: safetensors weights plus a JSON sidecar.

    <dir>/<architecture>-<config>.safetensors   tensors only: nothing is ever unpickled
    <dir>/<architecture>-<config>.json          {"format", "architecture", "config_name", "config",
                                                 "sources", "sample_rate", "parameters", "sha256",
                                                 "training", "scores", "created", "dannasep_version"}

Loading checks, in order: the sidecar is ours, the architecture is the one asked for, the config
builds, the weights' sha256 matches the sidecar, and every tensor name and shape matches the
model. Each failure is one clear sentence naming the file.

A sidecar with ``"backend"`` describes an exported network instead (``<stem>.ts`` TorchScript,
``<stem>.onnx`` ONNX Runtime; see `backends`): found, hash-checked and loaded the same way.
"""

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dannasep.engine import __version__
from dannasep.engine.errors import CheckpointError, DannaSepError, OutputError
from dannasep.engine.models.base import (
    InferenceSettings,
    SeparationNet,
    architecture_class,
    build_model,
    config_from_dict,
)
from dannasep.engine.weights.sidecars import (
    FORMAT,
    FORMAT_VERSION,
    WEIGHTS_SUFFIXES,
    atomic_write,
    read_sidecar,
    sha256_of,
    sidecar_path,
)


def checkpoint_stem(model: SeparationNet) -> str:
    return f"{model.architecture}-{model.config_name}"


def save_checkpoint(
    model: SeparationNet,
    folder: Path,
    training: dict[str, Any] | None = None,
    scores: dict[str, Any] | None = None,
    name: str | None = None,
    parameter_dtype: torch.dtype = torch.float32,
) -> Path:
    """Write ``folder/<name>.safetensors`` and its sidecar atomically; returns the weights path.

    `training` records how the weights were made (data, steps, commit...), `scores` how they score.
    `parameter_dtype` float16 halves the file (shipped weights); buffers such as batch-norm
    statistics stay float32. Loading casts back to the model's dtype.
    """
    if model.inference_only:
        raise ValueError(
            f"this {model.architecture} was rewritten for inference (batch norms folded); "
            "save the network it was loaded from instead"
        )
    folder = Path(folder)
    weights_path = folder / f"{name or checkpoint_stem(model)}.safetensors"
    parameter_names = {k for k, _ in model.named_parameters()}
    tensors = {
        k: v.detach().cpu().to(parameter_dtype if k in parameter_names else v.dtype).contiguous().clone()
        for k, v in model.state_dict().items()
    }
    atomic_write(weights_path, lambda tmp: save_file(tensors, str(tmp)))
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": model.architecture,
        "config_name": model.config_name,
        "config": dataclasses.asdict(model.config),
        "inference": dataclasses.asdict(model.inference),
        "sources": list(model.sources),
        "sample_rate": model.sample_rate,
        "parameters": model.num_parameters(),
        "sha256": sha256_of(weights_path),
        "parameter_dtype": str(parameter_dtype).removeprefix("torch."),
        "training": training or {"how": "untrained (random initialisation)"},
        "scores": scores or {},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "dannasep_version": __version__,
    }
    text = json.dumps(sidecar, indent=2, sort_keys=False) + "\n"
    atomic_write(sidecar_path(weights_path), lambda tmp: tmp.write_text(text))
    return weights_path


def load_checkpoint(
    weights_path: str | Path,
    architecture: str | None = None,
    verify_hash: bool = True,
    inference: InferenceSettings | None = None,
) -> SeparationNet:
    """Build the model a checkpoint describes and load its weights (eval mode, on CPU)."""
    weights_path = Path(weights_path)
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: checkpoint not found")
    sidecar = read_sidecar(weights_path)
    arch = sidecar.get("architecture")
    if architecture is not None and arch != architecture:
        raise CheckpointError(f"{weights_path}: holds a {arch!r} model, but a {architecture!r} checkpoint was expected")
    try:
        cls = architecture_class(str(arch))
        config = config_from_dict(cls.config_class, sidecar.get("config", {}), str(sidecar_path(weights_path)))
        if inference is None and "inference" in sidecar:
            inference = config_from_dict(InferenceSettings, sidecar["inference"], str(weights_path))
    except DannaSepError as exc:
        raise CheckpointError(f"{weights_path}: {exc}") from exc
    if verify_hash:
        actual = sha256_of(weights_path)
        if actual != sidecar.get("sha256"):
            raise CheckpointError(
                f"{weights_path}: sha256 {actual[:12]}… does not match the sidecar's "
                f"{str(sidecar.get('sha256'))[:12]}…; the file is corrupt or was replaced"
            )
    if "backend" in sidecar:
        from dannasep.engine.models.backends import load_backend  # backends import this module

        return load_backend(weights_path, sidecar, cls, config, inference)
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights_path}: not a readable safetensors file ({exc})") from exc
    model = build_model(str(arch), config, config_name=str(sidecar.get("config_name", "custom")), inference=inference)
    load_state_dict_checked(model, tensors, str(weights_path))
    model.checkpoint_info = sidecar
    return model.eval()


def load_state_dict_checked(model: torch.nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    """Load tensors into `model`, naming missing, unexpected and mis-shaped entries on failure."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [
        f"{k} {tuple(tensors[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tuple(tensors[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
    if wrong:
        problems.append(f"{len(wrong)} with the wrong shape (e.g. {'; '.join(wrong[:3])})")
    if problems:
        raise CheckpointError(f"{where}: weights do not fit the model: " + ", ".join(problems))
    model.load_state_dict(tensors, strict=True)


def existing_checkpoint_files(folder: Path, stem: str) -> list[Path]:
    """The files a checkpoint named `stem` occupies in `folder`: weights of any kind and the sidecar."""
    candidates = [Path(folder) / f"{stem}{suffix}" for suffix in (*WEIGHTS_SUFFIXES.values(), ".json")]
    return [p for p in candidates if p.exists()]


def refuse_existing_checkpoint(folder: Path, stem: str, overwrite: bool) -> None:
    """Raise OutputError if a checkpoint named `stem` (of any kind) is in `folder`, unless `overwrite`."""
    taken = existing_checkpoint_files(folder, stem)
    if taken and not overwrite:
        raise OutputError(f"{taken[0]}: already exists; pass --overwrite to replace it")


def remove_other_weights(weights_path: Path) -> None:
    """Delete weights of another kind with the same stem: they shared the sidecar just replaced."""
    for path in existing_checkpoint_files(weights_path.parent, weights_path.stem):
        if path.suffix in WEIGHTS_SUFFIXES.values() and path != weights_path:
            path.unlink()
