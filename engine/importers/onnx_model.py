"""`dannasep import dannasep-onnx`: the Danna-Sep authors' xumx.onnx -> an ONNX Runtime X-UMX
backend.

The graph must take one float32 |STFT| (1, 2, 2049, T) with T dynamic and give one float32 mask
tensor (1, 4, 2, 2049, T); the batch may be fixed at 1 or dynamic, the input name is read at run
time as the authors' code does. Its declared signature is checked, then a run on a random input
must give finite, non-negative masks of that shape. The file is then copied beside a sidecar.
Its weights are not converted into our X-UMX: the export folded batch norms into the
convolutions and reordered the LSTM gates, so the runtime runs the graph as it is.
"""

from pathlib import Path

import numpy as np
import onnx
import torch

from dannasep.engine.constants import N_FFT, SOURCES
from dannasep.engine.errors import CheckpointError
from dannasep.engine.importers.common import provenance
from dannasep.engine.importers.registry import ImportOptions, ImportResult
from dannasep.engine.models.backends import open_onnx_session, save_backend
from dannasep.engine.models.base import architecture_class
from dannasep.engine.models.checkpoint import refuse_existing_checkpoint, remove_other_weights
from dannasep.engine.models.configs import load_model_config

KIND = "dannasep-onnx"
ARCHITECTURE = "xumx"
BINS = N_FFT // 2 + 1
TIME = "T"
"""Marks the axis that must be dynamic in the signatures below; "B" is fixed at 1 or dynamic."""
INPUT_SIGNATURE = ("B", 2, BINS, TIME)
OUTPUT_SIGNATURE = ("B", len(SOURCES), 2, BINS, TIME)
PROBE_FRAMES = 7


def _check_signature(role: str, declared: list, expected: tuple, where: str) -> None:
    """`declared`: onnxruntime's shape, ints for static axes and str/None for dynamic ones."""
    shown = "(" + ", ".join(str(d) if isinstance(d, int) else "?" for d in declared) + ")"
    wanted = "(" + ", ".join("1" if e == "B" else str(e) for e in expected) + ")"
    if len(declared) != len(expected):
        raise CheckpointError(f"{where}: its {role} has rank {len(declared)} {shown}, not {len(expected)} {wanted}")
    for axis, (have, want) in enumerate(zip(declared, expected, strict=True)):
        if not isinstance(have, int):
            continue
        if want == TIME:
            raise CheckpointError(f"{where}: its {role}'s time axis is fixed at {have} frames; it must be dynamic")
        if have != (1 if want == "B" else want):
            raise CheckpointError(f"{where}: its {role} is {shown}, not {wanted} (axis {axis})")


def _check_graph(session, where: str) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise CheckpointError(
            f"{where}: has {len(inputs)} inputs and {len(outputs)} outputs ("
            f"{', '.join(i.name for i in inputs)} -> {', '.join(o.name for o in outputs)}); "
            "X-UMX has one of each"
        )
    for role, arg, expected in (("input", inputs[0], INPUT_SIGNATURE), ("output", outputs[0], OUTPUT_SIGNATURE)):
        if arg.type != "tensor(float)":
            raise CheckpointError(f"{where}: its {role} {arg.name!r} is {arg.type}, not tensor(float)")
        _check_signature(f"{role} {arg.name!r}", list(arg.shape), expected, where)


def _check_run(session, where: str) -> None:
    """Run the graph on a random |STFT| and check the masks."""
    probe = torch.rand(1, 2, BINS, PROBE_FRAMES, generator=torch.Generator().manual_seed(0)).numpy()
    try:
        (masks,) = session.run(None, {session.get_inputs()[0].name: probe})
    except Exception as exc:  # onnxruntime's error classes derive from Exception only
        raise CheckpointError(f"{where}: fails on a {probe.shape} input ({str(exc).strip()})") from exc
    expected = (1, len(SOURCES), 2, BINS, PROBE_FRAMES)
    if masks.shape != expected:
        raise CheckpointError(f"{where}: returns {masks.shape} for a {probe.shape} input, not {expected}")
    if not np.isfinite(masks).all() or (masks < 0).any():
        raise CheckpointError(f"{where}: returns NaN, infinite or negative masks for a {probe.shape} input")


def _parameter_count(path: Path) -> int:
    """Elements in the graph's initializers; refuses weights stored outside the file, which the
    copy would lose."""
    model = onnx.load(str(path), load_external_data=False)
    external = [i.name for i in model.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise CheckpointError(f"{path}: keeps {len(external)} tensors in external data files; not supported")
    return sum(int(np.prod(i.dims)) for i in model.graph.initializer)


def run(source: Path, options: ImportOptions) -> ImportResult:
    """Install `source` as ``options.out_dir/<name>.onnx`` (default xumx-paper) with its sidecar."""
    name = options.name or f"{ARCHITECTURE}-paper"
    session = open_onnx_session(source)
    _check_graph(session, str(source))
    refuse_existing_checkpoint(options.out_dir, name, options.overwrite)
    _check_run(session, str(source))
    parameters = _parameter_count(source)
    paper = load_model_config(ARCHITECTURE, "paper")
    path = save_backend(
        source,
        options.out_dir,
        name,
        "onnxruntime",
        architecture_class(ARCHITECTURE),
        "paper",
        paper.config,
        paper.inference,
        parameters,
        provenance(source, KIND, "imported from the Danna-Sep authors' ONNX release, run by ONNX Runtime"),
    )
    remove_other_weights(path)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    return ImportResult([path], [f"ONNX Runtime backend: {inputs[0].name} {inputs[0].shape} -> {outputs[0].shape}"])
