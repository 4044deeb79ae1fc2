"""The offline benchmark's peak-RAM probe measures the separating process alone."""

import numpy as np
import pytest

from dannasep.engine.bench.offline import BenchCase, file_run
from dannasep.engine.constants import SOURCES
from dannasep.engine.fusion.presets import make_preset

BALLAST_MB = 1500


@pytest.mark.slow
def test_peak_ram_is_the_workers_own_not_the_parents(tmp_path):
    """Linux carries a forked parent's peak RSS into its child's ru_maxrss across exec; a parent
    holding 1.5 GB must not make a small separation look that big."""
    ballast = np.ones(BALLAST_MB * 2**20 // 8)  # touched, so resident
    case = BenchCase("xumx alone", make_preset("xumx", {"xumx": [1.0] * len(SOURCES)}), "live")
    run = file_run(case, 1, threads=2, precision="fp32", workdir=tmp_path)
    assert 100 < run.peak_ram_mb < BALLAST_MB, run
    assert run.rtf > 0
    assert ballast[-1] == 1.0
