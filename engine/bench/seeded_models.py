"""Our networks with seeded random weights, the same in every process of `dannasep bench peers`.

Kept apart from the peers' packages so that a process running only our side never imports them.
"""

import dataclasses

import torch

from dannasep.engine.models.base import SeparationNet, build_model
from dannasep.engine.models.configs import load_model_config
from dannasep.engine.separation.config import MODEL_SIZES

SEED = 0


def build_ours(architecture: str, size: str) -> SeparationNet:
    """Our network with seeded random weights, in eval mode and in the standard memory layout
    (callers that run our pipeline apply `prepare_for_cpu_inference`)."""
    if size not in MODEL_SIZES:
        raise ValueError(f"size must be one of {', '.join(MODEL_SIZES)}, not {size!r}")
    torch.manual_seed(SEED)
    if architecture == "demucs_v2" and size == "live":
        return _live_demucs_v2().eval()
    return load_model_config(architecture, size).build().eval()


def _live_demucs_v2() -> SeparationNet:
    """There is no live Demucs v2 config: this one takes the live four-decoder Demucs' width, depth
    and resampling (9.3 M parameters) and the paper v2's chunking, so that quick runs stay quick."""
    live = load_model_config("demucs", "live").config
    paper = load_model_config("demucs_v2", "paper")
    config = dataclasses.replace(paper.config, channels=live.channels, depth=live.depth, resample=live.resample)
    return build_model("demucs_v2", config, config_name="live", inference=paper.inference)
