"""Every bad input to `dannasep import` is refused with one sentence naming the file, and nothing
is written."""

import argparse
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from demucs.model import Demucs
from reference_models import asteroid_package

from dannasep.engine.cli import main
from dannasep.engine.importers.asteroid_xumx import expected_model_args
from dannasep.engine.weights.sidecars import sha256_of


class Custom:
    """A class only this module defines: unpickling it would import and run Python code."""


def _saved(obj: Any) -> Callable[[Path], None]:
    return lambda path: torch.save(obj, path)


def _truncated(source: Path) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])


def _asteroid(model, *, args: dict | None = None, tensors: dict | None = None, drop: str = "") -> dict:
    package = asteroid_package(model)
    package["model_args"] = {**package["model_args"], **(args or {})}
    state = {k: v for k, v in package["state_dict"].items() if not drop or drop not in k}
    package["state_dict"] = {**state, **(tensors or {})}
    return package


def _demucs_state(model, *, tensors: dict | None = None, drop: str = "") -> dict:
    return {**{k: v for k, v in model.state_dict().items() if k != drop}, **(tensors or {})}


# (id, kind, writer of the bad file given the session's reference models, expected message)
CASES: list[tuple[str, str, Callable[[Any], Callable[[Path], None]], str]] = [
    ("text", "asteroid-xumx", lambda r: lambda p: p.write_text("not weights"), "is not a torch file"),
    ("empty", "demucs-v2", lambda r: lambda p: p.write_bytes(b""), "the file is empty"),
    ("truncated", "demucs-v2", lambda r: _truncated(r("demucs_file")), "is a truncated or corrupt torch file"),
    (
        "code",
        "asteroid-xumx",
        lambda r: _saved({"model": Custom()}),
        r"references Python code such as \S*Custom and is refused because loading it could run arbitrary code",
    ),
    (
        "demucs-package",
        "demucs-v2",
        lambda r: _saved(
            {
                "klass": Demucs,
                "args": (),
                "kwargs": {"sources": ["drums", "bass", "other", "vocals"], "channels": 8},
                "state": r("demucs_v2").state_dict(),
                "training_args": argparse.Namespace(epochs=1),
            }
        ),
        r"demucs\.model\.Demucs .* pass the bare state dict instead, e\.g\. torch\.save\(pkg\[\"state\"\]",
    ),
    (
        "quantized",
        "demucs-v2",
        lambda r: _saved({"compressed": zlib.compress(b"quantized state")}),
        "quantized demucs files are not supported",
    ),
    ("demucs-as-asteroid", "asteroid-xumx", lambda r: _saved(r("demucs_v2").state_dict()), "use the kind demucs-v2"),
    (
        "asteroid-as-demucs",
        "demucs-v2",
        lambda r: _saved(asteroid_package(r("small_asteroid_xumx"))),
        "use the kind asteroid-xumx",
    ),
    ("tensor", "asteroid-xumx", lambda r: _saved(torch.zeros(3)), r"is not an asteroid model file \(no model_name\)"),
    (
        "other-asteroid-model",
        "asteroid-xumx",
        lambda r: _saved({**asteroid_package(r("small_asteroid_xumx")), "model_name": "ConvTasNet"}),
        "holds an asteroid 'ConvTasNet' model, not X-UMX",
    ),
    (
        "model-args",
        "asteroid-xumx",
        lambda r: _saved(asteroid_package(r("small_asteroid_xumx"))),
        "model_args hidden_size is 16, but our X-UMX paper config needs 512",
    ),
    (
        "missing-source",
        "asteroid-xumx",
        lambda r: _saved(
            _asteroid(
                r("small_asteroid_xumx"),
                args={**expected_model_args(), "sources": ["bass", "drums", "vocals"]},
                drop="other",
            )
        ),
        "has no other source",
    ),
    (
        "asteroid-shape",
        "asteroid-xumx",
        lambda r: _saved(_asteroid(r("asteroid_xumx"), tensors={"layer_enc.drums.enc.0.weight": torch.zeros(512, 9)})),
        r"layer_enc\.drums\.enc\.0\.weight has shape \(512, 9\), but X-UMX paper needs \(512, 2974\)",
    ),
    (
        "demucs-shape",
        "demucs-v2",
        lambda r: _saved(_demucs_state(r("demucs_v2"), tensors={"decoder.2.0.weight": torch.zeros(64, 32, 5)})),
        r"with the wrong shape \(e\.g\. decoder\.2\.0\.weight \(64, 32, 5\)",
    ),
    (
        "demucs-missing",
        "demucs-v2",
        lambda r: _saved(_demucs_state(r("demucs_v2"), drop="lstm.linear.weight")),
        r"1 missing \(e\.g\. lstm\.linear\.weight\)",
    ),
    (
        "demucs-sources",
        "demucs-v2",
        lambda r: _saved(Demucs(sources=["a", "b", "c"], channels=4).state_dict()),
        "outputs 6 channels, i.e. 3 sources",
    ),
]


@pytest.mark.parametrize(("kind", "write", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_file_is_refused_and_nothing_written(kind, write, message, request, tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    write(request.getfixturevalue)(bad)
    out = tmp_path / "weights"
    assert main(["import", kind, str(bad), "-o", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"dannasep: error: {bad}: ") and "\n" not in error, error
    assert re.search(message, error), error
    assert not out.exists() or not any(out.iterdir())


def test_existing_checkpoint_needs_overwrite(demucs_file, tmp_path, capsys):
    out = tmp_path / "weights"
    assert main(["import", "demucs-v2", str(demucs_file), "-o", str(out)]) == 0
    before = {p.name: sha256_of(p) for p in out.iterdir()}

    assert main(["import", "demucs-v2", str(demucs_file), "-o", str(out), "--warm-start"]) == 2
    error = capsys.readouterr().err
    assert "demucs_v2-imported.safetensors: already exists; pass --overwrite to replace it" in error
    assert {p.name: sha256_of(p) for p in out.iterdir()} == before  # no warm start written either

    assert main(["import", "demucs-v2", str(demucs_file), "-o", str(out), "--warm-start", "--overwrite"]) == 0
    assert {p.name for p in out.iterdir()} == set(before) | {"demucs-warm.safetensors", "demucs-warm.json"}


def test_output_that_is_a_file_is_refused(demucs_file, tmp_path, capsys):
    out = tmp_path / "weights"
    out.write_text("a file")
    assert main(["import", "demucs-v2", str(demucs_file), "-o", str(out)]) == 2
    assert f"{out}: exists and is not a folder" in capsys.readouterr().err
    assert out.read_text() == "a file"
