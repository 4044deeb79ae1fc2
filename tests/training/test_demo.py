"""The README's main job: `dannasep demo` renders its song, separates it and scores the stems."""

import re
import subprocess
import sys

import pytest
import soundfile as sf

from dannasep.engine.constants import SOURCES


@pytest.mark.slow
def test_the_demo_writes_four_scored_stems(tmp_path):
    out = tmp_path / "demo"
    command = [
        sys.executable,
        "-m",
        "dannasep.engine.cli",
        "demo",
        "--seconds",
        "4",
        "--out",
        str(out),
        "--threads",
        "2",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    song = sf.info(str(out / "demo-song.wav"))
    for source in SOURCES:
        stem = out / "stems" / f"{source}.wav"
        assert sf.info(str(stem)).frames == song.frames
        assert re.search(rf"{source}\s+\S+{source}\.wav\s+SDR\s+-?\d+\.\d dB", done.stdout), done.stdout
    assert "mean SDR" in done.stdout
    refused = subprocess.run(
        [*command[:3], "demo", "--seconds", "1", "--out", str(out)], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and "--seconds" in refused.stderr
