"""`dannasep import asteroid-xumx`: asteroid's own X-UMX and the imported one give the same masks."""

import json

import pytest
import torch
from reference_models import ASTEROID_SOURCES

from dannasep.engine.cli import main
from dannasep.engine.constants import SOURCES
from dannasep.engine.importers.asteroid_xumx import xumx_state_from_asteroid
from dannasep.engine.models.checkpoint import load_checkpoint
from dannasep.engine.weights.sidecars import sha256_of


@pytest.mark.slow  # 3-10 s: two 35.6 M-parameter models
def test_imported_xumx_gives_asteroids_masks(asteroid_xumx, asteroid_file, tmp_path, capsys):
    out = tmp_path / "weights"
    assert main(["import", "asteroid-xumx", str(asteroid_file), "-o", str(out)]) == 0
    assert "bass, drums, vocals, other" in capsys.readouterr().out  # the note on matching by name
    ours = load_checkpoint(out / "xumx-paper.safetensors", architecture="xumx")
    assert ours.config_name == "paper"

    magnitude = 2 * torch.rand(6, 1, 2, 2049, generator=torch.Generator().manual_seed(5))  # (T, B, C, F)
    with torch.inference_mode():
        theirs = asteroid_xumx.forward_masker(magnitude.clone())  # (sources, T, B, C, F), the file's order
        mine = ours(magnitude.permute(1, 2, 3, 0))  # (B, 4, C, F, T), our order
    for i, source in enumerate(SOURCES):
        expected = theirs[ASTEROID_SOURCES.index(source)].permute(1, 2, 3, 0)
        assert expected.abs().max() > 0.5  # masks are not trivially zero
        relative = (mine[:, i] - expected).abs().max() / expected.abs().max()
        assert relative < 1e-4, f"{source}: max relative difference {relative:.2e}"

    training = json.loads((out / "xumx-paper.json").read_text())["training"]
    assert training["how"] == "imported from asteroid X-UMX" and training["kind"] == "asteroid-xumx"
    assert training["source_file"] == asteroid_file.name
    assert training["source_sha256"] == sha256_of(asteroid_file)
    assert training["asteroid_version"] == "0.7.0" and training["torch_version"] == torch.__version__


def test_batch_norm_counters_become_the_largest(asteroid_xumx):
    state = asteroid_xumx.state_dict()
    fused = xumx_state_from_asteroid(state, ASTEROID_SOURCES)
    counts = [int(state[f"layer_dec.{s}.dec.4.num_batches_tracked"]) for s in ASTEROID_SOURCES]
    assert int(fused["affine2.4.num_batches_tracked"]) == max(counts)
    assert not any("window" in k for k in fused)
    vocals = SOURCES.index("vocals")
    assert torch.equal(fused["input_means"][vocals * 1487 : (vocals + 1) * 1487], state["mean_scale.input_mean_vocals"])
