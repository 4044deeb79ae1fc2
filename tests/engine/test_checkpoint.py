"""Our checkpoint format: round trip, and a clear refusal for every way a file can be wrong."""

import json
import pickle

import pytest
import torch
from tiny_networks import tiny_network

from dannasep.engine.errors import CheckpointError
from dannasep.engine.models.checkpoint import load_checkpoint, save_checkpoint
from dannasep.engine.weights.sidecars import find_checkpoints


@pytest.fixture
def saved(tmp_path):
    model = tiny_network("demucs", seed=3)
    path = save_checkpoint(model, tmp_path, training={"how": "test", "steps": 0}, scores={"sdr": 1.5})
    return model, path


def test_round_trip_gives_identical_outputs(saved):
    model, path = saved
    loaded = load_checkpoint(path, architecture="demucs")
    x = torch.randn(1, 2, 30_000)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))
    assert loaded.config == model.config and loaded.config_name == "tiny"
    assert loaded.checkpoint_info["scores"] == {"sdr": 1.5}
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["architecture"] == "demucs" and sidecar["sources"] == ["drums", "bass", "other", "vocals"]
    assert sidecar["parameters"] == model.num_parameters() and len(sidecar["sha256"]) == 64


def test_half_precision_storage_halves_the_file_and_loads_back_as_float32(saved, tmp_path):
    model, full_path = saved
    half_path = save_checkpoint(model, tmp_path / "half", training={"how": "test"}, parameter_dtype=torch.float16)
    assert half_path.stat().st_size < 0.55 * full_path.stat().st_size
    loaded = load_checkpoint(half_path, architecture="demucs")
    assert json.loads(half_path.with_suffix(".json").read_text())["parameter_dtype"] == "float16"
    for name, value in loaded.state_dict().items():
        original = model.state_dict()[name]
        assert value.dtype == original.dtype
        if value.is_floating_point():  # within float16 rounding, buffers exact
            assert torch.allclose(value, original, rtol=1e-3, atol=1e-4), name


def test_wrong_architecture_is_refused(saved):
    _, path = saved
    with pytest.raises(CheckpointError, match="holds a 'demucs' model, but a 'xumx'"):
        load_checkpoint(path, architecture="xumx")


def test_bad_hash_is_refused(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"sha256 .* does not match"):
        load_checkpoint(path)


def test_shape_mismatch_names_the_tensors(saved):
    _, path = saved
    sidecar = json.loads(path.with_suffix(".json").read_text())
    sidecar["config"]["channels"] = 16  # the weights are for 24 channels
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match=r"wrong shape .*encoder\.0\.0\.weight"):
        load_checkpoint(path)


def test_missing_sidecar_and_foreign_sidecar(saved, tmp_path):
    _, path = saved
    alone = tmp_path / "alone.safetensors"
    alone.write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="no sidecar"):
        load_checkpoint(alone)
    alone.with_suffix(".json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a dannasep-checkpoint sidecar"):
        load_checkpoint(alone)


class _Exploit:
    def __reduce__(self):
        return (print, ("this code must never run",))


def test_a_pickle_disguised_as_weights_is_never_unpickled(saved, capsys):
    _, path = saved
    path.write_bytes(pickle.dumps({"weights": _Exploit()}))
    sidecar = json.loads(path.with_suffix(".json").read_text())
    from dannasep.engine.weights.sidecars import sha256_of

    sidecar["sha256"] = sha256_of(path)
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(path)
    assert "must never run" not in capsys.readouterr().out


def test_unknown_config_keys_are_named(saved):
    _, path = saved
    sidecar = json.loads(path.with_suffix(".json").read_text())
    sidecar["config"]["wings"] = 2
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match="unknown DemucsConfig keys \\['wings'\\]"):
        load_checkpoint(path)


def test_find_checkpoints_groups_by_architecture(saved, tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not ours")
    assert {k: [p.name for p in v] for k, v in find_checkpoints(tmp_path).items()} == {
        "demucs": ["demucs-tiny.safetensors"]
    }
