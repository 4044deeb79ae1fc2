"""Pieces every importer shares: checking what a loaded file holds, refusing to overwrite, and
recording where the weights came from."""

from pathlib import Path
from typing import Any

import torch

from dannasep.engine.errors import CheckpointError, OutputError
from dannasep.engine.weights.sidecars import sha256_of, sidecar_path


def tensor_dict(loaded: Any, what: str) -> dict[str, torch.Tensor]:
    """`loaded` as a flat ``{name: tensor}`` dict; raises (without the file name) if it is not one."""
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{what} is a {type(loaded).__name__}, not a dict of tensors")
    bad = [str(k) for k, v in loaded.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{what} has {len(bad)} entries that are not named tensors (e.g. {', '.join(bad[:3])})")
    return loaded


def kind_hint(loaded: Any) -> str:
    """A clause suggesting the right import kind when `loaded` is recognisably another one."""
    if isinstance(loaded, dict) and "model_name" in loaded and "state_dict" in loaded:
        return f"; it looks like an asteroid model file ({loaded['model_name']}): use the kind asteroid-xumx"
    if isinstance(loaded, dict) and "encoder.0.0.weight" in loaded and "lstm.lstm.weight_ih_l0" in loaded:
        return "; it looks like a Demucs v2 state dict: use the kind demucs-v2"
    return ""


def refuse_existing(out_dir: Path, names: list[str], overwrite: bool) -> None:
    """Raise OutputError if `out_dir` is not a folder, or if a checkpoint (weights or sidecar) of one
    of `names` exists there, unless `overwrite`."""
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise OutputError(f"{out_dir}: exists and is not a folder")
    if overwrite:
        return
    for name in names:
        weights = Path(out_dir) / f"{name}.safetensors"
        for path in (weights, sidecar_path(weights)):
            if path.exists():
                raise OutputError(f"{path}: already exists; pass --overwrite to replace it")


def provenance(source: Path, kind: str, how: str) -> dict[str, Any]:
    """The sidecar's ``training`` record of an imported checkpoint: what it is and which file it came from."""
    return {"how": how, "kind": kind, "source_file": Path(source).name, "source_sha256": sha256_of(Path(source))}
