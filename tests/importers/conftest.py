"""Reference models from the peers' own packages (asteroid 0.7, demucs 2.0.3) with random weights,
saved the way their releases are, built once per session."""

from pathlib import Path

import pytest
import torch
from asteroid.models.x_umx import BrokenXUMX
from demucs.model import Demucs
from reference_models import ASTEROID_SOURCES, DEMUCS_SOURCES, DEMUCS_TEST_CHANNELS, asteroid_package, randomise_


@pytest.fixture(scope="session")
def asteroid_xumx() -> BrokenXUMX:
    """asteroid's X-UMX at the released size (35.6 M parameters), random weights, eval mode."""
    torch.manual_seed(11)
    return randomise_(BrokenXUMX(sources=ASTEROID_SOURCES, max_bin=1487), seed=12)


@pytest.fixture(scope="session")
def asteroid_file(asteroid_xumx, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("asteroid") / "pretrained_xumx_musdb18HQ.pth"
    torch.save(asteroid_package(asteroid_xumx), path)
    return path


@pytest.fixture(scope="session")
def small_asteroid_xumx() -> BrokenXUMX:
    """A tiny X-UMX (hidden 16, 64 bins): cheap files for refusals that never reach the tensors."""
    torch.manual_seed(13)
    return BrokenXUMX(sources=ASTEROID_SOURCES, hidden_size=16, max_bin=64).eval()


@pytest.fixture(scope="session")
def demucs_v2() -> Demucs:
    torch.manual_seed(21)
    return Demucs(sources=DEMUCS_SOURCES, channels=DEMUCS_TEST_CHANNELS).eval()


@pytest.fixture(scope="session")
def demucs_file(demucs_v2, tmp_path_factory) -> Path:
    """A bare state dict, as demucs48_hq is released."""
    path = tmp_path_factory.mktemp("demucs") / "demucs48_hq-28a1282c.th"
    torch.save(demucs_v2.state_dict(), path)
    return path
