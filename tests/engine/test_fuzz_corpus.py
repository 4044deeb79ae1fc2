"""Every file of the fuzz corpus (tests/fuzz_corpus.py) through `dannasep separate` in its own
process, under a 3 GB address-space limit and a 60 s wall limit: correct stems, or a non-zero exit
with one sentence naming the file. Never a traceback, never a timeout, nothing left behind."""

import pytest
from fuzz_corpus import CASES, Case, demucs_preset, make_corpus, separate


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    root.chmod(0o755)
    return make_corpus(root / "corpus"), demucs_preset(root), root


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_separate_survives_the_corpus(corpus, case: Case):
    paths, preset, root = corpus
    result = separate(case, paths[case.name], root / "out" / case.name, preset)
    assert result.returncode is not None, f"{case.name}: still running after the wall limit"
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode == 0:
        assert case.expect != "error", f"{case.name} should have been refused: {result.stdout}"
        assert sorted(result.stems) == ["bass", "vocals"] and len(result.left_in_output) == 3, result.left_in_output
        for rate, channels, frames, finite in result.stems.values():
            assert (rate, channels, finite) == (44100, 2, True)
            assert frames == case.frames if case.frames is not None else frames > 0
    else:
        assert case.expect != "stems", f"{case.name} should have separated: {result.stderr}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dannasep: error: ") and case.name in lines[0], lines
        assert result.left_in_output == [], result.left_in_output
