"""The official release formats, made here from small random networks, and the fake internet that
serves them at the catalog's real URLs (see fake_internet)."""

import hashlib
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from fake_internet import FakeInternet, FakeInternetServer, Served, make_certificate

from dannasep.engine.models.base import build_model
from dannasep.engine.models.demucs import DemucsConfig
from dannasep.engine.models.unet import UNetConfig
from dannasep.engine.models.xumx import XUMXConfig
from dannasep.engine.weights.catalog import CATALOG, CatalogEntry, RemoteFile

FORMATS = ("xumx.onnx", "unet_attention.pth", "demucs_4_decoders.pth", "demucs48_hq", "pretrained_xumx_musdb18HQ.pth")
"""One file of each official format: the authors' ONNX X-UMX and TorchScript U-Net and Demucs
(Google Drive), demucs 2.0.3's state dict (published hash), asteroid's X-UMX package (Zenodo)."""


def _small(arch: str, config, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(arch, config).eval()


def _trace(model: torch.nn.Module, example: torch.Tensor, path: Path) -> bytes:
    """A TorchScript archive as the authors' files are (traced: our models do not script)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(model, example, check_trace=False), str(path))
    return path.read_bytes()


def _onnx(model: torch.nn.Module, path: Path) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.rand(1, 2, 2049, 5),),
            str(path),
            opset_version=17,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {3: "frames"}, "output": {4: "frames"}},
            dynamo=False,
        )
    return path.read_bytes()


@pytest.fixture(scope="session")
def releases(tmp_path_factory) -> dict[str, bytes]:
    """The bytes of each format, small except asteroid's (its importer accepts only the paper size)."""
    from asteroid.models.x_umx import BrokenXUMX
    from demucs.model import Demucs
    from importers.reference_models import ASTEROID_SOURCES, asteroid_package

    folder = tmp_path_factory.mktemp("releases")
    unet = _small("unet", UNetConfig(growth=2, levels=4, attention_channels=16, attention_d_model=16), 1)
    demucs = _small("demucs", DemucsConfig(channels=8, depth=4), 2)
    xumx = _small("xumx", XUMXConfig(hidden_channels=32, nb_layers=2), 3)
    torch.manual_seed(21)
    v2 = Demucs(sources=["drums", "bass", "other", "vocals"], channels=8).eval()
    torch.save(v2.state_dict(), folder / "v2.th")
    torch.manual_seed(11)
    asteroid = BrokenXUMX(sources=ASTEROID_SOURCES, max_bin=1487).eval()
    torch.save(asteroid_package(asteroid), folder / "asteroid.pth")
    return {
        "xumx.onnx": _onnx(xumx, folder / "xumx.onnx"),
        "unet_attention.pth": _trace(unet, torch.rand(1, 2, 2049, 37), folder / "unet.pth"),
        "demucs_4_decoders.pth": _trace(demucs, 0.3 * torch.randn(1, 2, 9000), folder / "demucs.pth"),
        "demucs48_hq": (folder / "v2.th").read_bytes(),
        "pretrained_xumx_musdb18HQ.pth": (folder / "asteroid.pth").read_bytes(),
    }


def catalog_file(fmt: str, data: bytes) -> RemoteFile:
    """The catalog's file of format `fmt`. demucs48_hq's name promises a hash our bytes cannot
    have, so its stand-in carries our bytes' own prefix, at the same URL pattern."""
    files = {f.name: f for e in CATALOG.values() for f in e.files}
    if fmt != "demucs48_hq":
        return files[fmt]
    real = files["demucs48_hq-28a1282c.th"]
    prefix = hashlib.sha256(data).hexdigest()[:8]
    name = f"demucs48_hq-{prefix}.th"
    return replace(real, name=name, url=real.url.replace(real.name, name), sha256_prefix=prefix)


def one_file_set(file: RemoteFile, name: str = "test-set") -> CatalogEntry:
    return CatalogEntry(name, f"one {file.name}", (file,), "test", "the fake internet", (file.architecture,))


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def internet(certificate, monkeypatch, tmp_path):
    """A fake internet on 127.0.0.1 for this test, the proxy and CA settings pointing at it, and an
    empty weights home."""
    world = FakeInternet()
    with FakeInternetServer(world, *certificate) as server:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", server.url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
        monkeypatch.setenv("DANNASEP_WEIGHTS", str(tmp_path / "weights-home"))
        world.server = server  # type: ignore[attr-defined]
        yield world


def serve(world: FakeInternet, file: RemoteFile, data: bytes, **how) -> Served:
    served = Served(data, file.name, **how)
    world.serve_url(file.url, served)
    return served
