"""Networks through ONNX Runtime (engine.models.onnx_runner): the same outputs as PyTorch at the
live window shapes, an export cache keyed by weights and shapes that survives a damaged file, no
export after freezing, and the live engine's inference process wired to it."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from dannasep.engine.models.cpu_inference import prepare_for_cpu_inference
from dannasep.engine.models.onnx_runner import OnnxRunner, prune
from dannasep.engine.streaming.runtimes import resolve_runtime
from dannasep.engine.streaming.timing import LiveOptions
from dannasep.engine.streaming.worker import WorkerSpec, _build
from tests.tiny_networks import save_tiny_weights, tiny_network

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

# (input shape, statistics) at the live preset's window of each network
LIVE_INPUTS = {"xumx": (1, 2, 2049, 23), "unet": (1, 2, 2049, 32), "demucs": (1, 2, 20480)}


def _inputs(architecture: str, seed: int = 0) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    generator = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.rand(LIVE_INPUTS[architecture], generator=generator)
    statistics = (torch.full((1, 1, 1), 0.01), torch.full((1, 1, 1), 0.1)) if architecture == "demucs" else None
    return x, statistics


def _torch_forward(model, x, statistics):
    with torch.inference_mode():
        return model(x, statistics=statistics) if statistics is not None else model(x)


class ExportLog:
    def __init__(self):
        self.messages: list[str] = []

    def __call__(self, message: str) -> None:
        self.messages.append(message)


@pytest.mark.parametrize("architecture", sorted(LIVE_INPUTS))
def test_onnxruntime_computes_what_torch_computes(tmp_path, architecture):
    model = prepare_for_cpu_inference(tiny_network(architecture))
    x, statistics = _inputs(architecture)
    log = ExportLog()
    runner = OnnxRunner(model, tmp_path, threads=1, log=log)
    out = runner(x, statistics)
    reference = _torch_forward(model, x, statistics)
    assert out.shape == reference.shape and out.dtype == torch.float32
    torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-5)
    assert len(log.messages) == 1 and len(list(tmp_path.glob("*.onnx"))) == 1
    # another window, same shape: the same session
    x2, _ = _inputs(architecture, seed=1)
    torch.testing.assert_close(runner(x2, statistics), _torch_forward(model, x2, statistics), rtol=1e-4, atol=1e-5)
    assert len(log.messages) == 1


def test_the_cache_is_keyed_by_weights_and_shape_and_survives_damage(tmp_path):
    model = prepare_for_cpu_inference(tiny_network("xumx"))
    x, _ = _inputs("xumx")
    first = ExportLog()
    expected = OnnxRunner(model, tmp_path, threads=1, log=first)(x)
    # a second start with the same weights loads the graph without exporting
    again = ExportLog()
    torch.testing.assert_close(OnnxRunner(model, tmp_path, threads=1, log=again)(x), expected)
    assert len(first.messages) == 1 and again.messages == []
    # other weights: another graph, never the cached one
    other = prepare_for_cpu_inference(tiny_network("xumx", seed=1))
    other_log = ExportLog()
    torch.testing.assert_close(OnnxRunner(other, tmp_path, threads=1, log=other_log)(x), _torch_forward(other, x, None))
    assert len(other_log.messages) == 1 and len(list(tmp_path.glob("*.onnx"))) == 2
    # a damaged cache file is exported again, and the result is right
    path = OnnxRunner(model, tmp_path, threads=1).graph_path((x,))
    path.write_bytes(path.read_bytes()[:100])
    repaired = ExportLog()
    torch.testing.assert_close(OnnxRunner(model, tmp_path, threads=1, log=repaired)(x), expected)
    assert len(repaired.messages) == 1 and path.stat().st_size > 1000


def test_a_frozen_runner_runs_new_shapes_through_torch(tmp_path):
    model = prepare_for_cpu_inference(tiny_network("unet"))
    runner = OnnxRunner(model, tmp_path, threads=1)
    runner.freeze()
    x = 0.1 * torch.rand(1, 2, 2049, 64)
    torch.testing.assert_close(runner(x), _torch_forward(model, x, None))
    assert list(tmp_path.iterdir()) == []


def test_bf16_networks_and_unknown_runtimes_are_refused(tmp_path, monkeypatch):
    model = tiny_network("xumx").to(torch.bfloat16)
    with pytest.raises(ValueError, match="float32"):
        OnnxRunner(model, tmp_path, threads=1)
    monkeypatch.setenv("DANNASEP_RUNTIME", "tensorrt")
    with pytest.raises(ValueError, match="DANNASEP_RUNTIME"):
        resolve_runtime("auto")
    monkeypatch.setenv("DANNASEP_RUNTIME", "onnxruntime")
    assert resolve_runtime("auto") == "onnxruntime" and resolve_runtime("torch") == "torch"


def _spec(weights: Path, runtime: str) -> WorkerSpec:
    timing, _ = LiveOptions().resolve("live")
    models = ("xumx", "unet", "demucs")
    return WorkerSpec(
        preset="live",
        weights_dir=str(weights),
        size=None,
        precision="fp32",  # onnxruntime runs float32: compare like with like
        models=models,
        runs=models,
        wiener_iterations=1,
        timing=timing,
        forgetting_seconds=2.0,
        wiener_lookahead_frames=4,
        threads=1,
        runtime=runtime,
        nice=0,
        idle_priority=False,
        in_ring="",
        in_capacity=0,
        out_ring="",
        out_capacity=0,
        control="",
        stats="",
    )


def test_the_inference_process_streams_the_same_stems_through_onnxruntime(tmp_path, monkeypatch):
    """_build with each runtime, the live preset's timing, one stream of a few hops: the hops agree."""
    from dannasep.engine.streaming.processor import StreamProcessor
    from dannasep.engine.streaming.worker import warm_up

    monkeypatch.setenv("DANNASEP_CACHE", str(tmp_path / "cache"))
    weights = save_tiny_weights(tmp_path / "weights")
    audio = (0.1 * np.random.default_rng(3).standard_normal((2, 5 * 7168))).astype(np.float32)
    hops = {}
    for runtime in ("torch", "onnxruntime"):
        loaded, settings = _build(_spec(weights, runtime))
        estimators = {m: loaded[m].estimator for m in loaded}
        assert all(isinstance(e.network, OnnxRunner) == (runtime == "onnxruntime") for e in estimators.values())
        weights_now = {m: (1.0, 1.0, 1.0, 1.0) for m in estimators}
        processor = StreamProcessor(estimators, lambda w=weights_now: w, settings, models=tuple(estimators))
        warm_up(processor)
        for estimator in estimators.values():
            if runtime == "onnxruntime":
                estimator.network.freeze()
        hops[runtime] = processor.push(audio)
    assert len(hops["torch"]) == len(hops["onnxruntime"]) >= 3
    # the warm-up exported every window shape of the stream: one graph per network
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 3
    for ours, theirs in zip(hops["onnxruntime"], hops["torch"], strict=True):
        assert ours.index == theirs.index
        error = np.sum((ours.stems - theirs.stems) ** 2)
        assert 10 * np.log10(np.sum(theirs.stems**2) / error) > 60


def test_the_cache_keeps_the_most_recently_used_graphs_of_each_network(tmp_path):
    for age, name in enumerate(["xumx-a", "xumx-b", "xumx-c", "xumx-d", "xumx-e", "unet-a"]):
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(b"graph")
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
    newest = tmp_path / "xumx-f.onnx"
    newest.write_bytes(b"graph")
    prune(tmp_path, newest, keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unet-a.onnx", "xumx-a.onnx", "xumx-b.onnx", "xumx-f.onnx"]


def test_a_cache_folder_that_cannot_be_written_leaves_the_network_to_torch(tmp_path):
    model = prepare_for_cpu_inference(tiny_network("xumx"))
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    log = ExportLog()
    runner = OnnxRunner(model, blocked / "onnx", threads=1, log=log)
    x, _ = _inputs("xumx")
    torch.testing.assert_close(runner(x), _torch_forward(model, x, None))
    assert "runs through PyTorch" in log.messages[-1] and "a-file" in log.messages[-1]
    told = len(log.messages)
    runner(x)  # decided once per shape
    assert len(log.messages) == told


def test_networks_over_the_size_cap_stay_with_torch(tmp_path, monkeypatch):
    """A graph is a copy of the weights per window shape: the paper-size Demucs would write 0.77 GB."""
    from dannasep.engine.streaming import worker

    monkeypatch.setenv("DANNASEP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(worker, "ONNX_MAX_PARAMETERS", 0)
    loaded, _ = _build(_spec(save_tiny_weights(tmp_path / "weights"), "onnxruntime"))
    assert all(m.estimator.network is m.estimator.model for m in loaded.values())
    assert worker._runtime_note(loaded["unet"].estimator) == ""
