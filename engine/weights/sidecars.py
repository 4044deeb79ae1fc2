"""Checkpoint files on disk, without torch: sidecars, hashes, atomic writes, and finding the
checkpoints in a folder (the format is described in engine.models.checkpoint)."""

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from dannasep.engine.audio.writer import make_readable
from dannasep.engine.errors import CheckpointError

FORMAT = "dannasep-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_SUFFIXES = {"safetensors": ".safetensors", "torchscript": ".ts", "onnxruntime": ".onnx"}
"""The weights file's suffix per sidecar ``backend`` (none: our safetensors). A stem has one
sidecar, so one weights file."""


def weights_suffix(sidecar: dict[str, Any]) -> str | None:
    """The suffix of the weights file `sidecar` describes; None for an unknown backend."""
    return WEIGHTS_SUFFIXES.get(str(sidecar.get("backend", "safetensors")))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(weights_path: Path) -> Path:
    return weights_path.with_suffix(".json")


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp)`` on a temporary file beside `path`, then rename it into place: readers
    never see a half-written checkpoint, and a failure leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        make_readable(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_sidecar(weights_path: Path) -> dict[str, Any]:
    path = sidecar_path(Path(weights_path))
    if not path.is_file():
        raise CheckpointError(f"{weights_path}: no sidecar {path.name} beside it; not a dannasep checkpoint")
    try:
        sidecar = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: sidecar is not valid JSON ({exc})") from exc
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} sidecar")
    if sidecar.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer dannasep (format {sidecar['format_version']})")
    return sidecar


def find_checkpoints(folder: Path) -> dict[str, list[Path]]:
    """Checkpoints in `folder` grouped by architecture, read from their sidecars."""
    found: dict[str, list[Path]] = {}
    folder = Path(folder)
    if not folder.is_dir():
        return found
    for weights in sorted(p for suffix in WEIGHTS_SUFFIXES.values() for p in folder.glob(f"*{suffix}")):
        try:
            sidecar = read_sidecar(weights)
        except CheckpointError:
            continue
        if weights.suffix == weights_suffix(sidecar):  # not a leftover sharing another file's sidecar
            found.setdefault(str(sidecar.get("architecture")), []).append(weights)
    return found
