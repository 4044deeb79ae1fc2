"""Helpers for the importer tests: the peers' files as their own code writes them."""

from typing import Any

import asteroid
import torch
from asteroid.models.x_umx import BrokenXUMX

ASTEROID_SOURCES = ["bass", "drums", "vocals", "other"]
"""The recipe's order, deliberately not ours: the importer must match sources by name."""
DEMUCS_SOURCES = ["drums", "bass", "other", "vocals"]
DEMUCS_TEST_CHANNELS = 8
"""The paper's 48 channels make 149 M parameters; 8 keeps the same layout at 4 M."""


POSITIVE = ("running_var", "input_scale", "output_scale")


def randomise_(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random statistics and affine terms everywhere, not just the initialised weights, so that
    a tensor mapped to the wrong place changes the output. Windows stay Hann."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "window":
                continue
            if leaf == "num_batches_tracked":
                tensor.fill_(int(torch.randint(1, 1000, (), generator=generator)))
            elif leaf.startswith(POSITIVE) or (leaf, tensor.ndim) == ("weight", 1):  # scales: around 1
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.ndim == 1:  # biases, running means, input/output means
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))
    return model.eval()


def asteroid_package(model: BrokenXUMX) -> dict[str, Any]:
    """What ``BaseModel.serialize()`` returns (it imports pytorch_lightning, not installed here)."""
    return {
        "model_name": "XUMX",
        "state_dict": model.get_state_dict(),
        "model_args": model.get_model_args(),
        "infos": {
            "software_versions": {
                "torch_version": torch.__version__,  # a TorchVersion object, as in real files
                "pytorch_lightning_version": "1.3.8",
                "asteroid_version": asteroid.__version__,
            }
        },
    }
