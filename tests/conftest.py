"""Shared fixtures. Tests run on CPU with 2 threads, as on the target machines."""

import numpy as np
import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
