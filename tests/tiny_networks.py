"""Tiny networks for tests about plumbing rather than architecture: the live configurations'
shapes and timing (depth, levels, strides, look-ahead) with a handful of channels, so a test
pays for the engine, not for the network."""

from dataclasses import replace
from pathlib import Path

import torch

from dannasep.engine.models.base import SeparationNet, build_model
from dannasep.engine.models.checkpoint import save_checkpoint
from dannasep.engine.models.configs import load_model_config

TINY = {
    "xumx": {"hidden_channels": 16, "nb_layers": 1},
    "unet": {"growth": 1, "attention_channels": 8, "attention_d_model": 8, "attention_heads": 2},
    "demucs": {"channels": 4, "lstm_layers": 1},
}


def tiny_network(architecture: str, seed: int = 0) -> SeparationNet:
    """The live configuration of `architecture` with TINY's changes, seeded random weights."""
    live = load_model_config(architecture, "live")
    torch.manual_seed(seed)
    config = replace(live.config, **TINY[architecture])
    return build_model(architecture, config, config_name="tiny", inference=live.inference).eval()


def save_tiny_weights(folder: Path) -> Path:
    """A weights folder (`--weights`, `weights_dir`) with one tiny checkpoint per architecture."""
    for architecture in TINY:
        save_checkpoint(tiny_network(architecture), folder, training={"how": "tiny network for tests"})
    return folder
