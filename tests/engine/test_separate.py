"""`dannasep separate` and the Separator API, including every bad input: each gets one clear
message, a non-zero exit and no partial output."""

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dannasep.engine.audio.writer import AudioFormat
from dannasep.engine.cli import main
from dannasep.engine.constants import SOURCES
from dannasep.engine.models.checkpoint import save_checkpoint
from dannasep.engine.models.configs import load_model_config
from dannasep.engine.separation.naming import OutputNaming
from dannasep.engine.separation.separator import Separator, SeparatorConfig


@pytest.fixture
def demucs_only(tmp_path) -> str:
    """A one-model preset: the cheapest way through the whole pipeline."""
    path = tmp_path / "demucs-only.toml"
    path.write_text("[weights.demucs]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n")
    return str(path)


def _write(path: Path, seconds=2.0, rate=44100, channels=2, subtype="PCM_16", seed=0) -> Path:
    data = np.random.default_rng(seed).uniform(-0.3, 0.3, (int(seconds * rate), channels)).astype(np.float32)
    sf.write(str(path), data, rate, subtype=subtype)
    return path


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main(["separate", "--quiet", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_full_paper_preset_writes_four_stems(tmp_path, capsys):
    song = _write(tmp_path / "song.wav")
    code, out, err = _run(capsys, song, "-o", tmp_path / "out")
    assert code == 0, err
    assert _files(tmp_path / "out") == [f"song/{s}.wav" for s in sorted(SOURCES)]
    info = sf.info(str(tmp_path / "out/song/vocals.wav"))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, 88200, "PCM_24")
    assert "UNTRAINED" in out or "presets/weights" in out  # says which weights ran
    assert "x real time" in out


def test_file_path_equals_in_memory_api(tmp_path, demucs_only):
    song = _write(tmp_path / "song.wav", seconds=3.0, subtype="FLOAT")
    sep = Separator(SeparatorConfig(preset=demucs_only))
    result = sep.separate_file(song, OutputNaming(tmp_path / "out"), AudioFormat("wav", "float"))
    from_files = np.stack([sf.read(str(result.outputs[s]), dtype="float32")[0].T for s in SOURCES])
    in_memory = sep.separate(sf.read(str(song), dtype="float32")[0].T)
    assert np.array_equal(from_files, in_memory)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.wav", b"", "the file is empty"),
        ("text.wav", b"this is not audio at all" * 10, "not an audio file"),
        ("missing.wav", None, "no such file"),
    ],
)
def test_unreadable_inputs(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, _, err = _run(capsys, path, "-o", tmp_path / "out")
    assert code != 0 and message in err and name in err
    assert len(err.strip().splitlines()) == 1
    assert _files(tmp_path / "out") == []


def test_truncated_wav(tmp_path, capsys):
    good = _write(tmp_path / "good.wav", seconds=2.0)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:50_000])
    code, _, err = _run(capsys, cut, "-o", tmp_path / "out")
    assert code != 0 and "cut.wav: truncated" in err
    assert _files(tmp_path / "out") == []


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_samples(tmp_path, capsys, bad):
    data = np.zeros((44100, 2), np.float32)
    data[30_000, 1] = bad
    sf.write(str(tmp_path / "bad.wav"), data, 44100, subtype="FLOAT")
    code, _, err = _run(capsys, tmp_path / "bad.wav", "-o", tmp_path / "out")
    assert code != 0 and "sample 30000 (at 0.68 s) is NaN or infinite" in err
    assert _files(tmp_path / "out") == []


@pytest.mark.slow
def test_8khz_mono_is_resampled_and_can_keep_its_rate(tmp_path, capsys, demucs_only):
    song = _write(tmp_path / "phone.wav", seconds=2.0, rate=8000, channels=1)
    code, out, _ = _run(capsys, song, "-o", tmp_path / "a", "--preset", demucs_only)
    assert code == 0 and "mono input" in out and "8000 Hz input: resampled" in out
    assert sf.info(str(tmp_path / "a/phone/bass.wav")).samplerate == 44100
    assert sf.info(str(tmp_path / "a/phone/bass.wav")).frames == 88200
    code, _, _ = _run(capsys, song, "-o", tmp_path / "b", "--preset", demucs_only, "--keep-rate")
    info = sf.info(str(tmp_path / "b/phone/bass.wav"))
    assert code == 0 and info.samplerate == 8000 and abs(info.frames - 16000) <= 1


def test_96khz_input(tmp_path, capsys, demucs_only):
    song = _write(tmp_path / "hires.flac", seconds=1.5, rate=96000, subtype="PCM_24")
    code, _, _ = _run(capsys, song, "-o", tmp_path / "out", "--preset", demucs_only, "--format", "flac")
    info = sf.info(str(tmp_path / "out/hires/drums.flac"))
    assert code == 0 and info.samplerate == 44100 and abs(info.frames - 66150) <= 1


def test_six_channels_are_downmixed_or_refused(tmp_path, capsys, demucs_only):
    song = _write(tmp_path / "surround.wav", seconds=1.0, channels=6)
    code, out, _ = _run(capsys, song, "-o", tmp_path / "a", "--preset", demucs_only)
    assert code == 0 and "5.1" in out and sf.info(str(tmp_path / "a/surround/other.wav")).channels == 2
    code, _, err = _run(capsys, song, "-o", tmp_path / "b", "--preset", demucs_only, "--channels", "error")
    assert code != 0 and "has 6 channels" in err and _files(tmp_path / "b") == []


def test_missing_output_folder_is_created_and_an_impossible_one_is_refused(tmp_path, capsys, demucs_only):
    song = _write(tmp_path / "s.wav", seconds=1.0)
    code, _, _ = _run(capsys, song, "-o", tmp_path / "new/deeper", "--preset", demucs_only)
    assert code == 0 and (tmp_path / "new/deeper/s/vocals.wav").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = _run(capsys, song, "-o", blocker / "out", "--preset", demucs_only)
    assert code != 0 and "cannot create the output folder" in err


def test_existing_outputs_need_overwrite(tmp_path, capsys, demucs_only):
    song = _write(tmp_path / "s.wav", seconds=1.0)
    target = tmp_path / "out/s/bass.wav"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"precious")
    code, _, err = _run(capsys, song, "-o", tmp_path / "out", "--preset", demucs_only)
    assert code != 0 and "bass.wav already exists; pass --overwrite" in err
    assert target.read_bytes() == b"precious" and _files(tmp_path / "out") == ["s/bass.wav"]
    code, _, _ = _run(capsys, song, "-o", tmp_path / "out", "--preset", demucs_only, "--overwrite")
    assert code == 0 and sf.info(str(target)).frames == 44100


def test_stems_subset_format_bits_and_name_template(tmp_path, capsys, demucs_only):
    song = _write(tmp_path / "s.wav", seconds=1.0)
    code, _, _ = _run(
        capsys,
        song,
        "-o",
        tmp_path / "out",
        "--preset",
        demucs_only,
        "--stems",
        "vocals",
        "bass",
        "--format",
        "flac",
        "--bits",
        "16",
        "--name",
        "{index}-{stem}-{track}.{ext}",
    )
    assert code == 0 and _files(tmp_path / "out") == ["2-bass-s.flac", "4-vocals-s.flac"]
    assert sf.info(str(tmp_path / "out/2-bass-s.flac")).subtype == "PCM_16"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "flac", "--bits", "float"], "FLAC cannot store float"),
        (["--name", "{track}.{ext}"], "must contain {stem}"),
        (["--name", "{stem}/{artist}.wav"], "unknown placeholders \\['artist'\\]"),
        (["--name", "../{stem}.wav"], "must stay inside"),
        (["--preset", "nonexistent"], "available: demucs-v2, fast, live, low-latency, paper"),
    ],
)
def test_bad_options(tmp_path, capsys, args, message):
    import re

    song = _write(tmp_path / "s.wav", seconds=1.0)
    code, _, err = _run(capsys, song, "-o", tmp_path / "out", *args)
    assert code != 0 and re.search(message, err)
    assert _files(tmp_path / "out") == []


def test_checkpoint_for_the_wrong_architecture_or_with_a_bad_hash(tmp_path, capsys, demucs_only):
    song = _write(tmp_path / "s.wav", seconds=1.0)
    weights = tmp_path / "weights"
    path = save_checkpoint(load_model_config("demucs", "live").build(), weights)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    sidecar["architecture"] = "xumx"  # a demucs file claiming to be an X-UMX
    sidecar["config"] = {}
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    code, _, err = _run(capsys, song, "-o", tmp_path / "out", "--weights", weights)
    assert code != 0 and "weights do not fit the model" in err
    # a correct sidecar but modified weights
    path = save_checkpoint(load_model_config("demucs", "live").build(), weights)
    path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8)
    code, _, err = _run(capsys, song, "-o", tmp_path / "out", "--weights", weights, "--preset", demucs_only)
    assert code != 0 and "does not match the sidecar" in err
    assert _files(tmp_path / "out") == []


@pytest.mark.slow
def test_a_full_disk_leaves_nothing_behind(tmp_path, demucs_only):
    """The output fills up mid-write (simulated with a file-size limit): one clear error, no partials."""
    song = _write(tmp_path / "s.wav", seconds=3.0)

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dannasep.engine.cli",
            "separate",
            "--quiet",
            str(song),
            "-o",
            str(tmp_path / "out"),
            "--preset",
            demucs_only,
        ],
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )
    assert proc.returncode != 0
    assert "writing failed" in proc.stderr and "nothing was kept" in proc.stderr
    assert _files(tmp_path / "out") == []


def test_unknown_stem_in_api():
    from dannasep.engine.errors import DannaSepError

    with pytest.raises(DannaSepError, match="unknown stems"):
        Separator(SeparatorConfig(stems=("piano",)))


def test_stale_partials_of_a_killed_run_are_removed_and_reported(tmp_path, capsys, demucs_only):
    """A SIGKILLed run leaves its hidden temporary files; the next run into the folder removes
    those of the stems it writes, says so, and keeps those of a run still writing."""
    song = _write(tmp_path / "s.wav", seconds=1.0)
    folder = tmp_path / "out/s"
    folder.mkdir(parents=True)
    old_style = folder / ".vocals.wav.k2j4l1.partial"  # as versions before the PID in the name wrote
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = folder / f".bass.wav.{int(dead.stdout)}-x8f2.partial"
    with subprocess.Popen(["sleep", "60"]) as writer_still_running:
        busy = folder / f".drums.wav.{writer_still_running.pid}-q1w2.partial"
        other_stem = tmp_path / "out/s/.piano.wav.123-abc.partial"
        for path in (old_style, killed, busy, other_stem):
            path.write_bytes(b"half a stem")
        try:
            code, out, err = _run(capsys, song, "-o", tmp_path / "out", "--preset", demucs_only)
        finally:
            writer_still_running.kill()
    assert code == 0, err
    assert "removed 2 unfinished file(s) left by an interrupted earlier run" in out
    assert old_style.name in out and killed.name in out
    assert not old_style.exists() and not killed.exists() and busy.exists() and other_stem.exists()
    assert sorted(p.name for p in folder.glob("*.wav")) == [f"{s}.wav" for s in sorted(SOURCES)]


def _flac_with_total_samples(path: Path, seconds: float, total: int) -> np.ndarray:
    """A 16-bit stereo FLAC whose STREAMINFO total-samples field (36 bits) is set to `total`."""
    data = np.random.default_rng(3).uniform(-0.3, 0.3, (int(seconds * 44100), 2)).astype(np.float32)
    sf.write(str(path), data, 44100, subtype="PCM_16", format="FLAC")
    raw = bytearray(path.read_bytes())
    at = 8 + 10  # "fLaC", the block header, then rate/channels/bits/total packed in 8 bytes
    packed = int.from_bytes(raw[at : at + 8], "big") & ~((1 << 36) - 1) | total
    raw[at : at + 8] = packed.to_bytes(8, "big")
    path.write_bytes(bytes(raw))
    return data


def _wav_with_data_size(path: Path, seconds: float, size: int | None) -> None:
    """A 16-bit WAV whose data chunk declares `size` bytes (None: the right size); 0 is what a
    recorder that never finished its header leaves."""
    data = np.random.default_rng(3).uniform(-0.3, 0.3, (int(seconds * 44100), 2)).astype(np.float32)
    sf.write(str(path), data, 44100, subtype="PCM_16")
    if size is not None:
        raw = bytearray(path.read_bytes())
        at = raw.index(b"data") + 4
        raw[at : at + 4] = size.to_bytes(4, "little")
        path.write_bytes(bytes(raw))


def _with_declared_length(path: Path, frames: int | None) -> None:
    """2 s of 16-bit audio in a FLAC or WAV whose header declares `frames` (None: the right count)."""
    if path.suffix == ".flac":
        _flac_with_total_samples(path, 2.0, 88200 if frames is None else frames)
    else:
        _wav_with_data_size(path, 2.0, None if frames is None else frames * 4)


@pytest.mark.parametrize(
    ("name", "declared", "note"),
    [
        ("unknown.flac", 0, "the header gives no length"),
        ("short.flac", 1000, "the header claims 0.02 s"),
        ("unsized.wav", 0, "the header gives no length"),
    ],
)
def test_a_header_that_understates_the_length_loses_nothing(tmp_path, capsys, demucs_only, name, declared, note):
    """A FLAC whose STREAMINFO gives no length (total samples 0: libsndfile then says 2**63 - 1
    frames) or too small a one (libsndfile stops there), and a WAV whose data chunk declares 0
    bytes (libsndfile reads it as empty): the length comes from decoding all the audio the file
    holds, and the stems equal those of the same audio with a right header."""
    known = tmp_path / f"known{Path(name).suffix}"
    _with_declared_length(known, None)
    understated = tmp_path / name
    _with_declared_length(understated, declared)
    code, _, err = _run(capsys, known, "-o", tmp_path / "a", "--preset", demucs_only)
    assert code == 0, err
    code, out, err = _run(capsys, understated, "-o", tmp_path / "b", "--preset", demucs_only)
    assert code == 0, err
    assert f"{note}; decoding found 2.00 s, all of it used" in out
    for stem in SOURCES:
        a, _ = sf.read(str(tmp_path / f"a/known/{stem}.wav"), dtype="float32")
        b, _ = sf.read(str(tmp_path / f"b/{understated.stem}/{stem}.wav"), dtype="float32")
        assert np.array_equal(a, b)


def test_the_header_of_an_interrupted_flac_write_is_refused_at_once(tmp_path, capsys, demucs_only):
    """The first 86 bytes of a 10-minute FLAC: a header that declares 10 minutes and no audio."""
    whole = tmp_path / "whole.flac"
    _flac_with_total_samples(whole, 3.0, 600 * 44100)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[:86])
    code, _, err = _run(capsys, cut, "-o", tmp_path / "out", "--preset", demucs_only)
    assert code != 0 and "cut.flac: contains no audio samples although the header declares 600.00 s" in err
    assert len(err.strip().splitlines()) == 1 and _files(tmp_path / "out") == []
    # the rest of that file is 3 s of audio under a 10-minute claim: truncated
    code, _, err = _run(capsys, whole, "-o", tmp_path / "out", "--preset", demucs_only)
    assert code != 0 and "whole.flac: truncated: the header declares 600.00 s" in err
    assert "but decoding ended at 3.00 s" in err
    assert _files(tmp_path / "out") == []


@pytest.mark.slow
def test_sigint_stops_a_run_started_with_sigint_ignored_as_a_background_job_is(tmp_path, demucs_only):
    song = _write(tmp_path / "song.wav", seconds=120.0)
    command = [sys.executable, "-m", "dannasep.engine.cli", "separate", str(song), "-o", str(tmp_path / "out")]
    proc = subprocess.Popen(
        [*command, "--preset", demucs_only],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # what a shell does for `cmd &`
    )
    deadline = time.monotonic() + 120
    while not list((tmp_path / "out").rglob("*.partial")):  # separating, stems half written
        assert proc.poll() is None and time.monotonic() < deadline, "the separation never started writing"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err, err[-1000:]
    assert _files(tmp_path / "out") == []
