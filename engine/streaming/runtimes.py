"""Which runtime computes the networks' forward: PyTorch itself, or ONNX Runtime at fixed shapes
(engine.models.onnx_runner). Deciding imports neither, so the audio process stays free of torch."""

import os
from importlib.util import find_spec

from dannasep.engine.errors import CheckpointError

RUNTIMES = ("auto", "torch", "onnxruntime")


def onnxruntime_available() -> bool:
    """Whether ONNX Runtime and the exporter's onnxscript are installed."""
    return all(find_spec(name) is not None for name in ("onnxruntime", "onnxscript"))


def resolve_runtime(runtime: str) -> str:
    """The runtime to use, "torch" or "onnxruntime". "auto": the environment's DANNASEP_RUNTIME if
    set, else ONNX Runtime where installed."""
    if runtime == "auto":
        runtime = os.environ.get("DANNASEP_RUNTIME") or ("onnxruntime" if onnxruntime_available() else "torch")
    if runtime not in RUNTIMES[1:]:
        raise ValueError(f"the runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r} (DANNASEP_RUNTIME?)")
    if runtime == "onnxruntime" and not onnxruntime_available():
        raise CheckpointError("the ONNX Runtime runtime needs onnxruntime and onnxscript; re-run scripts/setup.sh")
    return runtime
