"""The kinds `dannasep import` knows, each implemented in its own module and imported lazily, so a
missing optional dependency (onnx, onnxruntime) only affects its own kind.

An importer is ``run(source: Path, options: ImportOptions) -> ImportResult``: it reads `source`
without unpickling code, verifies it, and writes checkpoints into ``options.out_dir`` atomically
(nothing is written when it fails).
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dannasep.engine.errors import CheckpointError


@dataclass(frozen=True)
class ImportOptions:
    out_dir: Path
    overwrite: bool = False
    name: str | None = None
    """Checkpoint name stem (default ``<architecture>-<config>``)."""
    warm_start: bool = False
    """demucs-v2 only: also write a four-decoder Demucs whose encoder and BiLSTM come from the file."""


@dataclass
class ImportResult:
    written: list[Path]
    """The weights files written (each has its JSON sidecar beside it)."""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImporterKind:
    name: str
    target: str
    """``module:function`` implementing the kind."""
    summary: str

    def load(self) -> Callable[[Path, ImportOptions], ImportResult]:
        module_name, function = self.target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise CheckpointError(
                f"import kind {self.name!r} needs a package that is not installed ({exc}); re-run scripts/setup.sh"
            ) from exc
        return getattr(module, function)


KINDS: dict[str, ImporterKind] = {
    kind.name: kind
    for kind in (
        ImporterKind(
            "asteroid-xumx",
            "dannasep.engine.importers.asteroid_xumx:run",
            "asteroid's pretrained X-UMX file (pretrained_xumx_musdb18HQ.pth) -> our X-UMX",
        ),
        ImporterKind(
            "demucs-v2",
            "dannasep.engine.importers.demucs_v2:run",
            "a Demucs v2 state dict (demucs48_hq) -> our Demucs v2; --warm-start also seeds a four-decoder Demucs",
        ),
        ImporterKind(
            "dannasep-torchscript",
            "dannasep.engine.importers.torchscript:run",
            "the authors' unet_attention.pth / demucs_4_decoders.pth (TorchScript) -> our U-Net / Demucs",
        ),
        ImporterKind(
            "dannasep-onnx",
            "dannasep.engine.importers.onnx_model:run",
            "the authors' xumx.onnx -> an ONNX Runtime X-UMX backend for the engine",
        ),
    )
}


def importer(kind: str) -> Callable[[Path, ImportOptions], ImportResult]:
    if kind not in KINDS:
        raise CheckpointError(f"unknown import kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind].load()
