"""Networks run by an exported runtime instead of our PyTorch code.

A TorchScript module whose weights do not map onto our classes, or an ONNX graph (the Danna-Sep
authors' xumx.onnx), stands in for one of our architectures. It presents that architecture's
protocol: the same I/O contract, ``architecture``, ``input_domain``, ``traits`` (including the
native class's minimum look-ahead), inference settings, sources and sample rate; so the separator
and the live engine use it unchanged.

    <dir>/<architecture>-<name>.ts     TorchScript archive      sidecar "backend": "torchscript"
    <dir>/<architecture>-<name>.onnx   ONNX model               sidecar "backend": "onnxruntime"
    <dir>/<architecture>-<name>.json   our sidecar format, plus "backend"; "sha256" is the copy's

The runtime owns the weights: a backend has no nn.Parameters, and its TorchScript module is kept
out of nn.Module's registry so that conversions meant for our own layers (requires_grad, the
channels-last swap of `prepare_for_cpu_inference`) never reach into it.
"""

import dataclasses
import datetime as dt
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dannasep.engine import __version__
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.errors import CheckpointError
from dannasep.engine.models.base import InferenceSettings, SeparationNet
from dannasep.engine.weights.sidecars import (
    FORMAT,
    FORMAT_VERSION,
    WEIGHTS_SUFFIXES,
    atomic_write,
    sha256_of,
    sidecar_path,
    weights_suffix,
)


class BackendNet(SeparationNet):
    """An exported network presenting the protocol of the native class `native`.

    The class attributes the engine reads (architecture, input_domain, config_class) are copied
    from `native` onto the instance; `config` is a `native.config_class` used for the traits.
    """

    def __init__(
        self,
        native: type[SeparationNet],
        config: Any,
        config_name: str,
        inference: InferenceSettings | None,
        parameters: int,
    ):
        super().__init__(config, config_name=config_name, inference=inference)
        self.native = native
        self.architecture = native.architecture
        self.input_domain = native.input_domain
        self.config_class = native.config_class
        self.runtime_parameters = parameters

    def min_lookahead_samples(self) -> int:
        # the native methods read only self.config, which is a native config
        return self.native.min_lookahead_samples(self)

    def min_input_length(self) -> int:
        return self.native.min_input_length(self)

    def time_grid_samples(self) -> int:
        return self.native.time_grid_samples(self)

    def num_parameters(self) -> int:
        return self.runtime_parameters


class TorchScriptBackend(BackendNet):
    """Runs a TorchScript module: the native I/O contract, e.g. |X| (B, 2, 2049, T) -> masks
    (B, 4, 2, 2049, T) or waveform (B, 2, L) -> (B, 4, 2, L')."""

    def __init__(self, module: torch.jit.ScriptModule, native: type[SeparationNet], config: Any, **kwargs):
        super().__init__(native, config, **kwargs)
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)
        object.__setattr__(self, "module", module)  # not a registered submodule: see the module docstring

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


class OnnxRuntimeBackend(BackendNet):
    """Runs an ONNX graph with a float32 input whose batch may be fixed at 1: |X| (B, 2, 2049, T)
    -> masks (B, 4, 2, 2049, T), one batch item per session call."""

    def __init__(self, path: Path, native: type[SeparationNet], config: Any, **kwargs):
        super().__init__(native, config, **kwargs)
        self.session = open_onnx_session(path)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        data = x.detach().to("cpu", torch.float32).numpy()
        outputs = [
            self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(item[None])})[0]
            for item in data
        ]
        return torch.from_numpy(np.concatenate(outputs))


def open_torchscript(path: Path) -> torch.jit.ScriptModule:
    """A TorchScript archive, on CPU. Never falls back to unpickling a plain ``torch.save`` file."""
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a TorchScript archive ({_torchscript_problem(path, exc)})") from exc


def _torchscript_problem(path: Path, exc: Exception) -> str:
    if not zipfile.is_zipfile(path):
        return "not a zip archive: truncated, or another format"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if not any(n.endswith("constants.pkl") for n in names) and any(n.endswith("data.pkl") for n in names):
        return "it is a plain torch.save file; import those with the kind asteroid-xumx or demucs-v2"
    return str(exc).split(". ")[0]


def open_onnx_session(path: Path):
    """An ONNX Runtime CPU session using as many threads as torch, without spinning idle threads."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise CheckpointError(f"{path}: running ONNX models needs onnxruntime; re-run scripts/setup.sh") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    # spinning threads would take the core the live engine's audio callback needs
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's error classes derive from Exception only
        raise CheckpointError(f"{path}: not a loadable ONNX model ({str(exc).strip()})") from exc


def load_backend(
    path: Path, sidecar: dict[str, Any], native: type[SeparationNet], config: Any, inference: InferenceSettings | None
) -> BackendNet:
    """The backend a (hash-checked) checkpoint describes, in eval mode."""
    backend = sidecar.get("backend")
    if backend not in ("torchscript", "onnxruntime") or weights_suffix(sidecar) != path.suffix:
        raise CheckpointError(
            f"{path}: the sidecar's backend {backend!r} does not fit a {path.suffix} file "
            f"(known: {', '.join(f'{k} {v}' for k, v in WEIGHTS_SUFFIXES.items())})"
        )
    common = dict(
        config_name=str(sidecar.get("config_name", "custom")),
        inference=inference,
        parameters=int(sidecar.get("parameters", 0)),
    )
    if backend == "torchscript":
        net: BackendNet = TorchScriptBackend(open_torchscript(path), native, config, **common)
    else:
        net = OnnxRuntimeBackend(path, native, config, **common)
    net.checkpoint_info = sidecar
    return net.eval()


def save_backend(
    source: Path,
    folder: Path,
    name: str,
    backend: str,
    native: type[SeparationNet],
    config_name: str,
    config: Any,
    inference: InferenceSettings,
    parameters: int,
    training: dict[str, Any],
) -> Path:
    """Copy `source` to ``folder/<name><suffix>`` with its sidecar, atomically; returns the copy's path.

    `config` is a `native.config_class` (the protocol the backend presents), `parameters` the
    runtime's own count. On failure nothing is left behind.
    """
    target = Path(folder) / f"{name}{WEIGHTS_SUFFIXES[backend]}"
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
    try:
        sidecar = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "backend": backend,
            "architecture": native.architecture,
            "config_name": config_name,
            "config": dataclasses.asdict(config),
            "inference": dataclasses.asdict(inference),
            "sources": list(SOURCES),
            "sample_rate": SAMPLE_RATE,
            "parameters": parameters,
            "sha256": sha256_of(target),
            "training": training,
            "scores": {},
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "dannasep_version": __version__,
        }
        text = json.dumps(sidecar, indent=2) + "\n"
        atomic_write(sidecar_path(target), lambda tmp: tmp.write_text(text))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target
