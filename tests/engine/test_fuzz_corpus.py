"""Every file of the fuzz corpus (tests/fuzz_corpus.py) through `dannasep separate` in its own
process, under a 3 GB address-space limit and a 60 s wall limit: correct stems, or a non-zero exit
with one sentence naming the file. Never a traceback, never a timeout, nothing left behind.

Two files at a time (most of each run is starting Python and torch); every problem is listed."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from fuzz_corpus import CASES, Outcome, demucs_preset, make_corpus, separate


def problems(result: Outcome) -> list[str]:
    case = result.case
    if result.returncode is None:
        return ["still running after the wall limit"]
    found = []
    if "Traceback" in result.stderr:
        found.append(f"a traceback: {result.stderr[-300:]}")
    if result.returncode == 0:
        if case.expect == "error":
            found.append("separated, but must be refused")
        if sorted(result.stems) != ["bass", "vocals"] or len(result.left_in_output) != 3:
            found.append(f"wrote {result.left_in_output}")
        for stem, (rate, channels, frames, finite) in result.stems.items():
            if (rate, channels, finite) != (44100, 2, True) or frames != (case.frames or frames) or frames < 1:
                found.append(f"{stem}: {rate} Hz, {channels} channels, {frames} frames, finite {finite}")
    else:
        if case.expect == "stems":
            found.append("refused, but must separate")
        lines = result.stderr.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("dannasep: error: ") or case.name not in lines[0]:
            found.append(f"not one sentence naming the file: {lines}")
        if result.left_in_output:
            found.append(f"left {result.left_in_output}")
    return found


@pytest.mark.slow
def test_separate_survives_the_corpus(tmp_path):
    tmp_path.chmod(0o755)  # the mode-000 case runs without root's DAC capabilities
    paths, preset = make_corpus(tmp_path / "corpus"), demucs_preset(tmp_path)
    assert len(CASES) >= 30
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda case: separate(case, paths[case.name], tmp_path / "out" / case.name, preset), CASES)
        )
    failures = {r.case.name: p for r in results if (p := problems(r))}
    assert not failures, failures
    # what the two FLACs do now
    outcome = {r.case.name: r for r in results}
    assert outcome["flac-length-unknown.flac"].returncode == 0
    assert "contains no audio samples although the header declares" in outcome["flac-first-86-bytes.flac"].stderr
