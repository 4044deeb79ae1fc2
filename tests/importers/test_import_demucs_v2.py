"""`dannasep import demucs-v2`: demucs' own apply_model and the imported model agree; --warm-start
carries the encoder and BiLSTM over and nothing else."""

import json

import pytest
import torch
from demucs.model import Demucs
from demucs.utils import apply_model
from reference_models import DEMUCS_SOURCES

from dannasep.engine.cli import main
from dannasep.engine.importers.demucs_v2 import infer_config
from dannasep.engine.models.checkpoint import load_checkpoint
from dannasep.engine.models.configs import load_model_config
from dannasep.engine.weights.sidecars import sha256_of


@pytest.mark.slow  # 3 s alone, over 5 s on a busy 2-core machine
def test_imported_demucs_v2_matches_apply_model_and_warm_start_copies_encoder_and_lstm(
    demucs_v2, demucs_file, tmp_path
):
    out = tmp_path / "weights"
    assert main(["import", "demucs-v2", str(demucs_file), "-o", str(out), "--warm-start"]) == 0
    ours = load_checkpoint(out / "demucs_v2-imported.safetensors", architecture="demucs_v2")
    assert ours.config.channels == 8 and ours.config_name == "imported"

    mix = torch.randn(2, 30_000, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        theirs = apply_model(demucs_v2, mix, shifts=0, split=False)  # (4, 2, L), pads to a valid length
        mine = ours(mix[None])[0]
    relative = (mine - theirs).abs().max() / theirs.abs().max()
    assert theirs.abs().max() > 0.01 and relative < 1e-4, f"max relative difference {relative:.2e}"
    training = json.loads((out / "demucs_v2-imported.json").read_text())["training"]
    assert training["source_file"] == demucs_file.name and training["source_sha256"] == sha256_of(demucs_file)

    warm = load_checkpoint(out / "demucs-warm.safetensors", architecture="demucs")
    file_state = demucs_v2.state_dict()
    copied = 0
    for name, tensor in warm.state_dict().items():
        if name.startswith("encoder."):
            assert torch.equal(tensor, file_state[name]), name
            copied += 1
        elif name.startswith("lstm."):
            assert torch.equal(tensor, file_state[f"lstm.{name}"]), name
            copied += 1
    assert copied == 24 + 16  # 6 levels x 2 convolutions x (weight, bias); 2 layers x 2 directions x 4
    training = json.loads((out / "demucs-warm.json").read_text())["training"]
    assert training["trained"] is False and training["how"].startswith("untrained warm start")
    assert training["source_sha256"] == sha256_of(demucs_file)


def test_warm_start_is_reproducible(demucs_file, tmp_path):
    hashes = set()
    for run in ("a", "b"):
        assert main(["import", "demucs-v2", str(demucs_file), "-o", str(tmp_path / run), "--warm-start"]) == 0
        hashes.add(sha256_of(tmp_path / run / "demucs-warm.safetensors"))
    assert len(hashes) == 1


def test_released_shapes_give_the_paper_config():
    # demucs48_hq's layout (149 M parameters) without allocating it; rescale=0 skips demucs'
    # weight rescaling, which changes no shape and is slow on meta tensors
    with torch.device("meta"):
        state = Demucs(sources=DEMUCS_SOURCES, channels=48, rescale=0).state_dict()
    assert infer_config(state) == load_model_config("demucs_v2", "paper").config
