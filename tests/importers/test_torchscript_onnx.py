"""`dannasep import dannasep-torchscript` / `dannasep-onnx`: the authors' release formats, made
here from our own models with small configs (their files cannot be downloaded).

Our models do not compile with torch.jit.script (the `traits` property, ModuleList indexing in
the D2 block, the global SOURCES tuple), so the archives are made with torch.jit.trace, which
keeps the state-dict names and generalises over input length (checked below at other sizes).
"""

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from dannasep.engine.cli import main
from dannasep.engine.constants import SOURCES
from dannasep.engine.importers.torchscript import infer_config, relative_difference
from dannasep.engine.models.backends import OnnxRuntimeBackend, TorchScriptBackend
from dannasep.engine.models.base import SeparationNet, build_model
from dannasep.engine.models.checkpoint import load_checkpoint
from dannasep.engine.models.configs import load_model_config
from dannasep.engine.models.cpu_inference import prepare_for_cpu_inference
from dannasep.engine.models.demucs import DemucsConfig
from dannasep.engine.models.unet import UNetConfig
from dannasep.engine.models.xumx import XUMXConfig
from dannasep.engine.separation.separator import Separator, SeparatorConfig
from dannasep.engine.streaming.processor import StreamProcessor
from dannasep.engine.weights.sidecars import find_checkpoints, sha256_of

SMALL = {
    "unet": UNetConfig(growth=2, levels=4, attention_channels=16, attention_d_model=16),
    "demucs": DemucsConfig(channels=8, depth=4),  # keeps the 2x resampling and its kernels
    "xumx": XUMXConfig(hidden_channels=32, nb_layers=2),
}
TOLERANCE = 1e-4

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def _small(arch: str, seed: int, **config) -> SeparationNet:
    """A small model with random batch-norm statistics and biases, so that a misplaced tensor
    shows in the output."""
    torch.manual_seed(seed)
    model = build_model(arch, replace(SMALL[arch], **config)).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.is_floating_point() and tensor.ndim == 1 and "kernel" not in name:
                tensor.add_(0.1 * torch.randn(tensor.shape, generator=generator))
    return model


def _magnitude(frames: int, seed: int) -> torch.Tensor:
    return 2 * torch.rand(1, 2, 2049, frames, generator=torch.Generator().manual_seed(seed))


def _waveform(length: int, seed: int) -> torch.Tensor:
    return 0.3 * torch.randn(1, 2, length, generator=torch.Generator().manual_seed(seed))


def _trace(model: torch.nn.Module, example: torch.Tensor, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.jit.save(torch.jit.trace(model, example, check_trace=False), str(path))
    return path


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path, dynamic: bool = True) -> Path:
    time = example.dim() - 1  # the last axis, one further in the output
    axes = {"input": {time: "frames"}, "output": {time + 1: "frames"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and LSTM batch notices
        torch.onnx.export(
            model,
            (example,),
            str(path),
            opset_version=17,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes=axes,
            dynamo=False,  # the dynamo exporter needs onnxscript, which is not a dependency
        )
    return path


def _import(kind: str, source: Path, out: Path, *extra: str) -> int:
    return main(["import", kind, str(source), "-o", str(out), *extra])


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture(scope="module")
def unet() -> SeparationNet:
    return _small("unet", seed=1)


@pytest.fixture(scope="module")
def demucs() -> SeparationNet:
    return _small("demucs", seed=2)


@pytest.fixture(scope="module")
def xumx() -> SeparationNet:
    return _small("xumx", seed=3)


@pytest.fixture(scope="module")
def files(unet, demucs, xumx, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("releases")
    return {
        "unet": _trace(unet, _magnitude(37, 0), folder / "unet_attention.pth"),
        "demucs": _trace(demucs, _waveform(9000, 0), folder / "demucs_4_decoders.pth"),
        "xumx": _export_onnx(xumx, _magnitude(5, 0), folder / "xumx.onnx"),
    }


@pytest.fixture(scope="module")
def foreign_unet(tmp_path_factory) -> tuple[Path, SeparationNet]:
    """A U-Net archive with a tensor our class lacks: its weights do not map, so it runs as TorchScript."""
    model = _small("unet", seed=4)
    model.register_buffer("version", torch.ones(1))
    return _trace(model, _magnitude(37, 0), tmp_path_factory.mktemp("foreign") / "unet_attention.pth"), model


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["unet", "demucs"])
def test_torchscript_imports_as_our_model_with_the_same_outputs(arch, files, unet, demucs, tmp_path, capsys):
    eager = {"unet": unet, "demucs": demucs}[arch]
    out = tmp_path / "weights"
    assert _import("dannasep-torchscript", files[arch], out) == 0
    assert "max relative difference" in capsys.readouterr().out
    assert _files(out) == [f"{arch}-paper.json", f"{arch}-paper.safetensors"]
    loaded = load_checkpoint(out / f"{arch}-paper.safetensors", architecture=arch)
    assert type(loaded) is type(eager) and loaded.config == eager.config and loaded.config_name == "imported"
    sidecar = json.loads((out / f"{arch}-paper.json").read_text())
    assert sidecar["training"] == {
        "how": "imported from the Danna-Sep authors' TorchScript release",
        "kind": "dannasep-torchscript",
        "source_file": files[arch].name,
        "source_sha256": sha256_of(files[arch]),
    }
    assert sidecar["inference"] == json.loads(json.dumps(load_model_config(arch, "paper").inference.__dict__))

    x = _magnitude(29, 7) if arch == "unet" else _waveform(12_345, 7)  # a size neither trace nor probe used
    with torch.inference_mode():
        expected = eager(x)
        assert relative_difference(loaded(x), expected) <= TOLERANCE
        assert relative_difference(torch.jit.load(str(files[arch]))(x), expected) <= TOLERANCE


def test_paper_configs_are_recognised_from_their_shapes():
    for arch in ("unet", "demucs", "xumx"):
        paper = load_model_config(arch, "paper")
        with torch.device("meta"):  # shapes only: the paper Demucs has 192 M parameters
            state = paper.build().state_dict()
        assert infer_config(arch, state, torch.nn.Module()) == paper.config, arch


@pytest.mark.slow
def test_weights_that_do_not_map_run_as_a_torchscript_backend(foreign_unet, tmp_path, capsys):
    source, eager = foreign_unet
    out = tmp_path / "weights"
    assert _import("dannasep-torchscript", source, out) == 0
    assert "1 unexpected (e.g. version)" in capsys.readouterr().out
    assert _files(out) == ["unet-paper.json", "unet-paper.ts"]
    sidecar = json.loads((out / "unet-paper.json").read_text())
    assert sidecar["backend"] == "torchscript" and sidecar["sha256"] == sha256_of(source)
    assert find_checkpoints(out) == {"unet": [out / "unet-paper.ts"]}

    backend = prepare_for_cpu_inference(load_checkpoint(out / "unet-paper.ts", architecture="unet"))
    assert isinstance(backend, TorchScriptBackend) and list(backend.parameters()) == []
    assert backend.num_parameters() == eager.num_parameters()
    native = load_model_config("unet", "paper").build()
    assert (backend.architecture, backend.input_domain) == ("unet", "magnitude")
    assert backend.traits == replace(native.traits, config_name="imported")  # not the paper's shapes
    assert backend.inference == native.inference
    assert backend.min_lookahead_samples() == native.min_lookahead_samples()
    x = _magnitude(21, 8)
    with torch.inference_mode():
        assert relative_difference(backend(x), eager(x)) <= TOLERANCE


@pytest.mark.slow
def test_onnx_xumx_runs_as_an_onnxruntime_backend(files, xumx, tmp_path, capsys):
    out = tmp_path / "weights"
    assert _import("dannasep-onnx", files["xumx"], out) == 0
    assert "input [1, 2, 2049, 'frames']" in capsys.readouterr().out
    assert _files(out) == ["xumx-paper.json", "xumx-paper.onnx"]
    sidecar = json.loads((out / "xumx-paper.json").read_text())
    assert sidecar["backend"] == "onnxruntime" and sidecar["architecture"] == "xumx"
    assert sidecar["parameters"] >= xumx.num_parameters() * 0.9  # batch norms are folded into convolutions
    assert sidecar["training"]["kind"] == "dannasep-onnx" and sidecar["sha256"] == sha256_of(files["xumx"])

    backend = prepare_for_cpu_inference(load_checkpoint(out / "xumx-paper.onnx", architecture="xumx"))
    assert isinstance(backend, OnnxRuntimeBackend) and list(backend.parameters()) == []
    native = load_model_config("xumx", "paper").build()
    assert backend.traits == native.traits and backend.sources == SOURCES
    x = _magnitude(13, 9)  # the export used 5 frames, the importer's check 7
    with torch.inference_mode():
        masks = backend(x)
        assert masks.dtype == torch.float32 and masks.shape == (1, 4, 2, 2049, 13)
        assert relative_difference(masks, xumx(x)) <= TOLERANCE


@pytest.mark.slow
def test_backends_run_in_separate_and_in_the_live_processor(files, foreign_unet, tmp_path, capsys):
    weights = tmp_path / "weights"
    assert _import("dannasep-torchscript", foreign_unet[0], weights) == 0  # unet-paper.ts
    assert _import("dannasep-torchscript", files["demucs"], weights) == 0  # demucs-paper.safetensors
    assert _import("dannasep-onnx", files["xumx"], weights) == 0  # xumx-paper.onnx
    song = tmp_path / "song.wav"
    t = np.arange(3 * 44100) / 44100
    sf.write(song, np.stack([np.sin(2 * np.pi * 220 * t), np.sign(np.sin(2 * np.pi * 3 * t))], 1) * 0.3, 44100)

    separator = Separator(SeparatorConfig(preset="paper", weights_dir=weights, size="paper"))
    assert {arch: type(m.model).__name__ for arch, m in separator.models.items()} == {
        "xumx": "OnnxRuntimeBackend",
        "unet": "TorchScriptBackend",
        "demucs": "DemucsFourDecoders",
    }
    live = StreamProcessor(separator.estimators, lambda: dict(separator.preset.weights))  # the live engine's core
    hops = live.push(sf.read(song, dtype="float32")[0].T.copy())
    assert hops and all(np.isfinite(h.stems).all() for h in hops)

    out = tmp_path / "stems"
    args = ["separate", str(song), "-o", str(out), "--weights", str(weights), "--size", "paper", "--quiet"]
    assert main(args) == 0, capsys.readouterr().err
    written = sorted(out.rglob("*.wav"))
    assert len(written) == 4 and all(s in " ".join(p.name for p in written) for s in SOURCES)
    stems = np.stack([sf.read(p, dtype="float32")[0] for p in written])
    assert stems.shape == (4, 3 * 44100, 2) and np.isfinite(stems).all() and np.abs(stems).max() > 0.01


# --- refusals: one clear sentence naming the file, and nothing written ---------------------------


def _refused(kind: str, source: Path, tmp_path: Path, capsys, *messages: str) -> None:
    out = tmp_path / "weights"
    assert _import(kind, source, out) == 2
    err = capsys.readouterr().err
    assert str(source) in err and all(m in err for m in messages), err
    assert len(err.strip().splitlines()) == 1, err
    assert _files(out) == []


def test_a_plain_pickle_is_not_unpickled(tmp_path, capsys):
    source = tmp_path / "unet_attention.pth"
    torch.save(_small("unet", seed=5).state_dict(), source)
    _refused("dannasep-torchscript", source, tmp_path, capsys, "not a TorchScript archive", "plain torch.save")


def test_a_truncated_archive_is_refused(files, tmp_path, capsys):
    source = tmp_path / "demucs_4_decoders.pth"
    source.write_bytes(files["demucs"].read_bytes()[:50_000])
    _refused("dannasep-torchscript", source, tmp_path, capsys, "not a TorchScript archive", "truncated")


def test_a_torchscript_of_another_network_is_refused(tmp_path, capsys):
    source = _trace(torch.nn.Linear(3, 2), torch.zeros(1, 3), tmp_path / "linear.pt")
    _refused("dannasep-torchscript", source, tmp_path, capsys, "not a Danna-Sep U-Net, Demucs or X-UMX")


@pytest.mark.slow  # over 5 s on a busy 2-core machine
def test_outputs_that_differ_are_refused_with_the_difference(tmp_path, capsys):
    # max_bins leaves no trace in the tensors: a U-Net cropping at 1000 bins loads into ours
    # (1487) but masks bins 1000-1486 differently
    source = _trace(_small("unet", seed=6, max_bins=1000), _magnitude(37, 0), tmp_path / "unet_attention.pth")
    _refused("dannasep-torchscript", source, tmp_path, capsys, "differs from the TorchScript module by", "e-")


def _onnx_from(function, example: torch.Tensor, path: Path, dynamic: bool = True) -> Path:
    class Graph(torch.nn.Module):
        def forward(self, x):
            return function(x)

    return _export_onnx(Graph(), example, path, dynamic)


def test_onnx_with_the_wrong_input_rank_is_refused(tmp_path, capsys):
    source = _onnx_from(lambda x: x.unsqueeze(1).repeat(1, 4, 1, 1), torch.rand(1, 2049, 5), tmp_path / "x.onnx")
    _refused("dannasep-onnx", source, tmp_path, capsys, "input 'input' has rank 3", "not 4 (1, 2, 2049, T)")


def test_onnx_with_the_wrong_output_shape_is_refused(tmp_path, capsys):
    source = _onnx_from(lambda x: x.unsqueeze(1).repeat(1, 3, 1, 1, 1), _magnitude(5, 0), tmp_path / "x.onnx")
    _refused("dannasep-onnx", source, tmp_path, capsys, "output 'output' is (1, 3, 2, 2049, ?)")


def test_onnx_with_a_fixed_time_axis_is_refused(tmp_path, capsys):
    fixed = _onnx_from(lambda x: x.unsqueeze(1).repeat(1, 4, 1, 1, 1), _magnitude(5, 0), tmp_path / "x.onnx", False)
    _refused("dannasep-onnx", fixed, tmp_path, capsys, "time axis is fixed at 5 frames")


def test_random_bytes_are_not_an_onnx_model(tmp_path, capsys):
    source = tmp_path / "xumx.onnx"
    source.write_bytes(np.random.default_rng(0).bytes(4096))
    _refused("dannasep-onnx", source, tmp_path, capsys, "not a loadable ONNX model")


@pytest.mark.slow  # over 5 s on a busy 2-core machine
def test_an_existing_checkpoint_is_kept_without_overwrite(files, foreign_unet, tmp_path, capsys):
    out = tmp_path / "weights"
    assert _import("dannasep-torchscript", foreign_unet[0], out) == 0  # unet-paper.ts
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert _import("dannasep-torchscript", files["unet"], out) == 2
    assert "unet-paper.ts: already exists; pass --overwrite" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    # --overwrite replaces it, and the TorchScript copy goes with its sidecar
    assert _import("dannasep-torchscript", files["unet"], out, "--overwrite") == 0
    assert _files(out) == ["unet-paper.json", "unet-paper.safetensors"]
    assert find_checkpoints(out) == {"unet": [out / "unet-paper.safetensors"]}
