"""Shared fixtures. Tests run on CPU with 2 threads, as on the target machines."""

import os
import tempfile

import numpy as np
import pytest
import torch

torch.set_num_threads(2)

# weights the developer installed (dannasep weights get) must not change what the tests load:
# every test, and every process it starts, sees an empty weights home unless it sets its own
os.environ["DANNASEP_WEIGHTS"] = tempfile.mkdtemp(prefix="dannasep-test-weights-")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
