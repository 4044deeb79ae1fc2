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
# the live tests start engines at many window shapes, each of which ONNX Runtime would export first;
# its own tests (tests/engine/test_onnx_runner.py) ask for it, with a cache folder of their own
os.environ["DANNASEP_RUNTIME"] = "torch"
os.environ["DANNASEP_CACHE"] = tempfile.mkdtemp(prefix="dannasep-test-cache-")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
