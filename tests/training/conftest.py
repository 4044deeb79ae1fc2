from pathlib import Path

import pytest
from audio_fixtures import write_dataset


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    return write_dataset(tmp_path / "data")
