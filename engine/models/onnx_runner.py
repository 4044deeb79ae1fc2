"""A network's forward through ONNX Runtime at the fixed window shapes of the live engine.

The live engine calls each network on windows of one shape, hop after hop. For those shapes an
ONNX Runtime session is faster than eager PyTorch on a CPU, most for small networks whose eager
time is spent between kernels (README, "Measurements behind the code"). The runner exports the
network (torch.export, the dynamo exporter) once per input shape and keeps the graph in a cache
folder keyed by the network's weights, the shapes and the library versions, so later starts only
load it. Shapes met after `freeze` (none, in the live engine) run through the network itself:
an export takes seconds, which a running stream cannot wait for.

Only float32 networks are exported: ONNX Runtime's CPU kernels have no bfloat16 convolutions.
"""

import contextlib
import hashlib
import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dannasep.engine import __version__
from dannasep.engine.errors import CheckpointError
from dannasep.engine.paths import user_cache_dir
from dannasep.engine.weights.sidecars import atomic_write

GRAPHS_KEPT_PER_ARCHITECTURE = 4


def default_cache_dir() -> Path:
    """Where exported graphs go: the onnx/ folder of the user's cache folder."""
    return user_cache_dir() / "onnx"


class _PositionalInputs(nn.Module):
    """The network with its optional (mean, std) statistics as plain inputs, so the exported graph
    has one named input per tensor."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, *statistics: torch.Tensor) -> torch.Tensor:
        if statistics:
            return self.model(x, statistics=tuple(statistics))
        return self.model(x)


def weights_digest(model: nn.Module) -> str:
    """sha256 of the network's parameters and buffers (names, dtypes, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted({**dict(model.named_parameters()), **dict(model.named_buffers())}.items()):
        data = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)};".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class OnnxRunner:
    """Stands in for ``model(x)`` / ``model(x, statistics=(mean, std))``: through an ONNX Runtime
    session for each shape compiled, through `model` for the others. `model` must be float32 and in
    eval mode; `threads` is the session's intra-op thread count."""

    def __init__(self, model: nn.Module, cache_dir: Path, threads: int, log: Callable[[str], None] | None = None):
        if any(p.dtype != torch.float32 for p in model.parameters()):
            raise ValueError("ONNX Runtime runs float32 networks only; load the model with precision fp32")
        self.model = model
        self.cache_dir = Path(cache_dir)
        self.threads = threads
        self.log = log or (lambda _message: None)
        self.frozen = False
        self._digest = weights_digest(model)
        self._sessions: dict[tuple, object] = {}
        """Per input shapes: an ONNX Runtime session, or None where PyTorch runs them."""

    def __call__(self, x: torch.Tensor, statistics: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        inputs = (x, *(statistics or ()))
        key = tuple((tuple(t.shape), str(t.dtype)) for t in inputs)
        if key not in self._sessions and not self.frozen and all(t.dtype == torch.float32 for t in inputs):
            self._sessions[key] = self._open_or_explain(inputs)
        session = self._sessions.get(key)
        if session is None:
            return self.model(x, statistics=statistics) if statistics is not None else self.model(x)
        feed = {f"input_{i}": np.ascontiguousarray(t.detach().numpy()) for i, t in enumerate(inputs)}
        return torch.from_numpy(session.run(None, feed)[0])

    def freeze(self) -> None:
        """From now on, shapes not compiled yet run through the network instead of being exported."""
        self.frozen = True

    def graph_path(self, inputs: tuple[torch.Tensor, ...]) -> Path:
        import onnxruntime

        shapes = "_".join("x".join(map(str, t.shape)) for t in inputs)
        versions = f"{torch.__version__}|{onnxruntime.__version__}|{__version__}"
        tag = hashlib.sha256(f"{self._digest}|{shapes}|{versions}".encode()).hexdigest()[:20]
        return self.cache_dir / f"{getattr(self.model, 'architecture', 'net')}-{shapes}-{tag}.onnx"

    def _open_or_explain(self, inputs: tuple[torch.Tensor, ...]):
        """The session, or None (PyTorch runs these shapes) when the graph can be neither exported
        nor loaded, e.g. a cache folder that cannot be written: the stream plays either way."""
        try:
            return self._open(inputs)
        except Exception as exc:  # the exporter and ONNX Runtime raise many kinds
            name = getattr(self.model, "architecture", "the network")
            self.log(f"{name} runs through PyTorch: ONNX Runtime could not take it ({type(exc).__name__}: {exc})")
            return None

    def _open(self, inputs: tuple[torch.Tensor, ...]):
        """The session for these inputs' shapes: from the cache, else exported into it. A cached
        graph that does not load (a damaged file) is exported again."""
        path = self.graph_path(inputs)
        if path.is_file():
            with contextlib.suppress(CheckpointError):
                session = self._session(path)
                os.utime(path)  # recently used: kept by `prune`
                return session
        self.log(f"exporting {path.name} for ONNX Runtime (once; cached in {self.cache_dir})")
        atomic_write(path, lambda tmp: export_graph(self.model, inputs, tmp))
        prune(self.cache_dir, path)
        return self._session(path)

    def _session(self, path: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # spinning threads would take the core the live engine's audio callback needs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's error classes derive from Exception only
            raise CheckpointError(f"{path}: ONNX Runtime cannot load this graph ({str(exc).strip()})") from exc


def prune(cache_dir: Path, newest: Path, keep: int = GRAPHS_KEPT_PER_ARCHITECTURE) -> None:
    """Delete all but the `keep` most recently used graphs of `newest`'s architecture (other
    weights, windows or versions), so that trying many settings does not fill the disk."""
    architecture = newest.name.split("-", 1)[0]
    graphs = sorted(cache_dir.glob(f"{architecture}-*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in graphs[keep:]:
        if old != newest:
            old.unlink(missing_ok=True)


def export_graph(model: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path) -> None:
    """Export `model` at exactly these input shapes to the ONNX file `path`, quietly (the exporter
    prints its steps and warns about optional packages)."""
    names = [f"input_{i}" for i in range(len(inputs))]
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        torch.no_grad(),
    ):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            _PositionalInputs(model).eval(),
            inputs,
            dynamo=True,
            input_names=names,
            output_names=["output"],
            verbose=False,
        )
    program.save(str(path))
