"""The live engine against a real JACK server (dummy driver): PortAudio, the inference process,
the real-time mixer, transport, and what came out, checked sample by sample.

These tests check behaviour, not speed: each runs with a safety margin (SAFETY) far above what the
models need, so a busy machine (other tests, a CI neighbour, `stress-ng --cpu 2`) still keeps up,
and they assert what was played (the dry mix to the sample, stems that agree) rather than counts of
under-runs. Speed and under-runs are measured by `dannasep bench live`."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_fixtures import assert_played_in_time, write_song

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.bench.live import LiveBenchConfig, format_live_table, run_case
from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE, SOURCES
from dannasep.engine.control.commands import Pause, Play, Seek, SetGain, SetMute
from dannasep.engine.streaming.config import LiveConfig
from dannasep.engine.streaming.engine import LiveEngine
from dannasep.engine.streaming.timing import LiveOptions, LiveTiming

pytestmark = pytest.mark.slow  # every test here plays through JACK with real inference processes

SAFETY = 2 * SAMPLE_RATE
"""Samples of margin for the inference's compute in these tests (one hop, 1 s, by default)."""
THREADS = 1
"""Inference threads per process in these tests. Two threads beside busy processes wait at every
parallel operation for the one the scheduler left out (Demucs alone measured 14x slower under
`stress-ng --cpu 2` on 2 cores); a single thread only gets slower by its share of the CPU."""


@pytest.fixture(scope="module")
def jack():
    with jack_server() as server:
        yield server


@pytest.fixture
def demucs_only(tmp_path) -> Path:
    path = tmp_path / "demucs-only.toml"
    path.write_text("[weights.demucs]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n")
    return path


def _recorded(folder: Path) -> dict[str, np.ndarray]:
    return {name: sf.read(str(folder / f"{name}.wav"), dtype="float32")[0] for name in (*SOURCES, "dry", "mix")}


def _play(engine: LiveEngine, seconds: float | None = None) -> dict[str, np.ndarray]:
    engine.start()
    try:
        engine.wait(seconds)
    finally:
        engine.stop()
    return _recorded(engine.config.record_dir)


def test_all_three_models_play_the_whole_song_through_the_cli(jack, tmp_path):
    """The product path: `dannasep live` in its own process, default preset (all three models).
    Long hops with short context cost the least compute per second of audio, and 6 s of safety
    absorb the stalls of a busy machine (the first hops, which re-warm the models, most of all), so
    the test holds where the default timing would only measure the machine. What played is the
    song, aligned to the sample (an under-run would play silence). Three models in real time need
    a share of the CPU that a machine loaded several times over (seen: load 9 on 2 cores) does not
    give, so only a quarter of the song must have played here; whether every block did is what
    `dannasep bench live` measures."""
    song = write_song(tmp_path / "song.wav", 20.0, seed=1)
    timing = ["--mode", "stream", "--hop", "3", "--context", "0.25", "--safety", "6", "--processes", "2"]
    proc = _cli(tmp_path / "song.wav", "--record", tmp_path / "rec", "--json", *timing, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"engine under-runs {summary['engine_underruns']}, JACK xruns {summary['device_underflows']}")
    assert summary["hops"] >= 6 and summary["seconds_played"] >= 20.0
    for model in ("xumx", "unet", "demucs"):
        assert f"  {model}: " in proc.stdout
    rec = _recorded(tmp_path / "rec")
    latency = summary["latency_samples"]
    assert latency == pytest.approx((3 + 0.5 + 6) * SAMPLE_RATE, abs=0.05 * SAMPLE_RATE)
    assert_played_in_time(rec["dry"], song, latency, at_least=0.25)
    assert not rec["dry"][:latency].any()
    for stem in SOURCES:
        assert np.sqrt(np.mean(rec[stem][latency:] ** 2)) > 1e-3, f"{stem} is silent"
    assert np.allclose(rec["mix"], sum(rec[s] for s in SOURCES), atol=1e-6)


@pytest.mark.parametrize("blocksize", [64, 256, 512, 1024, 333])
def test_every_block_size_keeps_the_dry_mix_sample_exact(jack, tmp_path, demucs_only, blocksize):
    """Through PortAudio, whose block size is ours to choose (JACK's own client takes the server's period)."""
    song = write_song(tmp_path / "song.wav", 4.0, seed=2)
    engine = LiveEngine(
        LiveConfig(
            source=tmp_path / "song.wav",
            backend="portaudio",
            preset=demucs_only,
            blocksize=blocksize,
            timing=LiveTiming(safety=SAFETY),
            threads=THREADS,
            record_dir=tmp_path / "rec",
        )
    )
    rec = _play(engine, 30.0)
    assert engine.finished
    latency = engine.latency_samples
    assert np.array_equal(rec["dry"][latency : latency + len(song)], song)
    assert len(rec["dry"]) >= latency + len(song)


def test_shorter_lookahead_lowers_the_latency_and_keeps_the_dry_mix_exact(jack, tmp_path, demucs_only):
    song = write_song(tmp_path / "song.wav", 4.0, seed=4)
    hop = 22 * HOP_LENGTH
    latencies = {}
    for lookahead in (None, 0):
        engine = LiveEngine(
            LiveConfig(
                source=tmp_path / "song.wav",
                preset=demucs_only,
                timing=LiveTiming(hop, lookahead=lookahead, safety=SAFETY),
                threads=THREADS,
                record_dir=tmp_path / f"rec-{lookahead}",
            )
        )
        rec = _play(engine, 30.0)
        latencies[lookahead] = latency = engine.latency_samples
        assert engine.finished
        assert np.array_equal(rec["dry"][latency : latency + len(song)], song)
    # default: hop + 0.5 s on the STFT grid + the safety; at 0 the model's minimum is kept
    assert latencies[None] == hop + 22 * HOP_LENGTH + SAFETY
    assert hop + SAFETY < latencies[0] < latencies[None]


def test_inference_that_falls_behind_drops_models_says_so_plays_on_and_ends_its_processes(jack, tmp_path):
    """No safety at all: a hop is then needed the moment its input is complete, so every hop comes
    late on any machine, however fast. The engine drops models (which one first depends on their
    measured cost, tested in test_stream_processor.py) but never the last one, reports them, plays
    on, and at stop every inference process has ended (the dropped model's one included)."""
    write_song(tmp_path / "song.wav", 40.0, seed=6)
    timing = LiveTiming.from_seconds(hop=0.05, lookahead=0.0, context=0.25, safety=0.0)
    config = LiveConfig(source=tmp_path / "song.wav", preset="paper", blocksize=256, processes=2, timing=timing)
    engine = LiveEngine(config)
    engine.start()
    try:
        pids = engine.status().worker_pids
        assert len(pids) == 2
        deadline = time.monotonic() + 30.0
        while not engine.status().dropped and time.monotonic() < deadline:
            engine.wait(0.25)
        first = engine.status()
        engine.wait(4.0)
        last = engine.status()
    finally:
        engine.stop()
    assert first.dropped and set(first.dropped) <= {"xumx", "unet", "demucs"}, first
    assert set(first.dropped) <= set(last.dropped) and len(last.dropped) < 3  # the last model always runs
    assert last.hops > first.hops
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids), "an inference process outlived stop()"


def test_models_split_between_two_processes_sum_to_the_one_process_stems(jack, tmp_path):
    """`--processes 2`: X-UMX in one inference process, Demucs in the other; the callback adds
    their stems. What comes out equals the one-process engine's stems (bf16 on one thread against
    two rounds differently: compared as an SDR), with the same latency and an exact dry mix."""
    song = write_song(tmp_path / "song.wav", 5.0, seed=7)
    preset = tmp_path / "two.toml"
    preset.write_text(
        "[weights.xumx]\ndrums = 0.5\nbass = 0.5\nother = 0.5\nvocals = 0.5\n"
        "[weights.demucs]\ndrums = 0.5\nbass = 0.5\nother = 0.5\nvocals = 0.5\n"
    )
    recorded, latencies = {}, {}
    for processes in (1, 2):
        engine = LiveEngine(
            LiveConfig(
                source=tmp_path / "song.wav",
                preset=preset,
                processes=processes,
                timing=LiveTiming(safety=SAFETY),
                threads=THREADS if processes == 1 else 2,
                record_dir=tmp_path / f"rec{processes}",
            )
        )
        engine.start()
        try:
            assert len(engine.status().worker_pids) == processes
            engine.wait(30.0)
            status = engine.status()
        finally:
            engine.stop()
        assert engine.finished, status
        assert set(status.models) == {"xumx", "demucs"}
        recorded[processes], latencies[processes] = _recorded(tmp_path / f"rec{processes}"), engine.latency_samples
    assert latencies[1] == latencies[2]
    latency = latencies[1]
    both = np.ones(len(song), bool)
    for processes in (1, 2):
        both &= assert_played_in_time(recorded[processes]["dry"], song, latency)
    for stem in SOURCES:
        one, two = (recorded[n][stem][latency : latency + len(song)][both] for n in (1, 2))
        assert np.sqrt(np.mean(one**2)) > 1e-3, stem
        sdr = 10 * np.log10(np.sum(one**2) / np.sum((one - two) ** 2))
        assert sdr > 30, (stem, sdr)


def test_live_bench_reports_a_real_run(tmp_path, demucs_only):
    options = LiveOptions(hop_seconds=0.5, crossfade_seconds=0.05, safety_seconds=0.3, context_seconds=0.25)
    bench = LiveBenchConfig(seconds=4.0, presets=(str(demucs_only),), blocksizes=(256,), options=options)
    timing, processes = options.resolve(demucs_only)
    write_song(tmp_path / "song.wav", 6.0, seed=5)
    row = run_case(bench, str(demucs_only), 256, "torch", tmp_path / "song.wav")
    assert row.seconds >= 4.0 and row.blocksize == 256 and row.processes == processes == 1 and row.runtime == "torch"
    # hop + the checkpoint's 0.5 s look-ahead on the STFT grid + the safety asked for
    assert timing.crossfade == 2 * HOP_LENGTH and timing.safety == round(0.3 * SAMPLE_RATE)
    assert row.latency_ms == pytest.approx(1000 * (timing.hop + 22 * HOP_LENGTH + timing.safety) / SAMPLE_RATE)
    assert 0 < row.callback_ms[0] <= row.callback_ms[1] <= row.callback_ms[2] < 1000
    assert row.worker_rtf > 0 and row.cpu_percent > 0 and min(row.ram_mb) > 100
    table = format_live_table([row], bench, "test machine")
    assert "| 256 | torch | 511 / 300 ms | 1 |" in table and "test machine" in table and "hop 0.5" in table


def test_pause_seek_and_end_of_file(jack, tmp_path, demucs_only):
    song = write_song(tmp_path / "song.wav", 6.0, seed=3)
    engine = LiveEngine(
        LiveConfig(
            source=tmp_path / "song.wav",
            preset=demucs_only,
            timing=LiveTiming(safety=SAFETY),
            threads=THREADS,
            record_dir=tmp_path / "rec",
        )
    )
    engine.start()
    try:
        time.sleep(1.0)
        engine.control.apply([Pause()])
        time.sleep(0.3)
        paused_at = engine.status().position
        time.sleep(0.7)
        assert engine.status().position == paused_at and not engine.status().playing
        engine.control.apply([Play()])
        time.sleep(0.5)
        engine.control.apply([Seek(4.0)])
        jumped_at = engine.callback.position
        assert engine.wait(20.0), "end of file was not reached"
    finally:
        engine.stop()
    rec = _recorded(tmp_path / "rec")
    latency = engine.latency_samples
    dry = rec["dry"][latency:]
    # before the seek: the song from the start. The jump lands at the start of the next audio block
    # after the command; after a 256-sample cross-fade the song continues exactly from 4.0 s.
    target, fade = int(4.0 * SAMPLE_RATE), 256
    assert np.array_equal(dry[: jumped_at - 1024], song[: jumped_at - 1024])
    landed = [
        j
        for j in range(jumped_at, jumped_at + 4096)
        if np.array_equal(dry[j + fade : j + fade + 2000], song[target + fade : target + fade + 2000])
    ]
    assert landed, "the seek target never appeared"
    jump = landed[0]
    rest = len(song) - target
    assert np.array_equal(dry[jump + fade : jump + rest], song[target + fade :])
    # after the end of the file: silence, then the engine stops by itself
    assert engine.finished and not dry[jump + rest :].any()


def test_loop_repeats_the_file_seamlessly(jack, tmp_path, demucs_only):
    song = write_song(tmp_path / "song.wav", 2.0, seed=4)
    engine = LiveEngine(
        LiveConfig(
            source=tmp_path / "song.wav",
            preset=demucs_only,
            loop=True,
            timing=LiveTiming(safety=SAFETY),
            threads=THREADS,
            record_dir=tmp_path / "rec",
        )
    )
    rec = _play(engine, 9.0)
    assert not engine.finished
    dry = rec["dry"][engine.latency_samples :]
    n = len(song)
    assert len(dry) > 2 * n
    # the second pass is the song again, except a 256-sample cross-fade at the loop point
    assert np.array_equal(dry[n + 256 : 2 * n - 1], song[256 : n - 1])
    # at the seam the start of the song fades in over those 256 samples (past the file's end there is
    # nothing to fade out), so the loop point cannot click
    ramp = ((np.arange(256) + 0.5) / 256)[:, None]
    assert np.allclose(dry[n : n + 256], song[:256] * ramp, atol=1e-6)


def test_mute_and_gain_are_heard_within_one_block_plus_the_ramp(jack, tmp_path, demucs_only):
    write_song(tmp_path / "song.wav", 8.0, seed=5)
    block, ramp = 512, int(0.01 * SAMPLE_RATE)
    engine = LiveEngine(
        LiveConfig(
            source=tmp_path / "song.wav",
            preset=demucs_only,
            blocksize=block,
            timing=LiveTiming(safety=SAFETY),
            threads=THREADS,
            record_dir=tmp_path / "rec",
        )
    )
    engine.start()
    try:
        time.sleep(engine.latency_samples / SAMPLE_RATE + 1.5)
        taken = engine.callback.control_taken_at
        engine.control.apply([SetMute("vocals", True), SetGain("bass", -6.0)])
        # from the block that took it: a loaded machine may deliver a change some blocks later
        deadline = time.monotonic() + 30.0
        while engine.callback.control_taken_at == taken and time.monotonic() < deadline:
            time.sleep(0.01)
        applied_at = engine.callback.control_taken_at
        time.sleep(1.0)
    finally:
        engine.stop()
    rec = _recorded(tmp_path / "rec")
    settled = applied_at + block + ramp
    assert rec["vocals"][applied_at - block - 200 : applied_at - block].any()
    assert not rec["vocals"][settled:].any()
    # bass at -6 dB: half the amplitude of what the model produced, i.e. of the dry-aligned stem
    before = np.abs(rec["bass"][settled - 3 * SAMPLE_RATE // 2 : applied_at - block]).max()
    after = np.abs(rec["bass"][settled : settled + SAMPLE_RATE // 2]).max()
    assert 0.2 < after / before < 0.8


def test_multichannel_output_runs_ten_channels(jack, tmp_path, demucs_only):
    song = write_song(tmp_path / "song.wav", 3.0, seed=6)
    engine = LiveEngine(
        LiveConfig(
            source=tmp_path / "song.wav",
            preset=demucs_only,
            multichannel=True,
            timing=LiveTiming(safety=SAFETY),
            threads=THREADS,
            record_dir=tmp_path / "rec",
        )
    )
    rec = _play(engine, 20.0)
    assert engine.callback.mixer.channels == 10
    assert np.array_equal(rec["dry"][engine.latency_samples :][: len(song)], song)


def _cli(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "dannasep.engine.cli", "live", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or os.environ.copy(),
    )


def test_cli_json_summary_and_recording(jack, tmp_path, demucs_only):
    song = write_song(tmp_path / "song.wav", 3.0, seed=7)
    timing = ["--mode", "stream", "--safety", "2", "--threads", "1"]
    proc = _cli(tmp_path / "song.wav", "--preset", demucs_only, "--json", "--record", tmp_path / "rec", *timing)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["latency_samples"] > 2 * SAMPLE_RATE and summary["hops"] >= 3
    latency = summary["latency_samples"]
    assert np.array_equal(_recorded(tmp_path / "rec")["dry"][latency : latency + len(song)], song)
    assert summary["xruns"] == summary["engine_underruns"] + summary["device_underflows"]
    assert summary["worker_rtf"] > 0 and summary["seconds_played"] >= 3.0
    assert sorted(Path(p).name for p in summary["recorded"]) == sorted(f"{n}.wav" for n in (*SOURCES, "dry", "mix"))


def test_without_an_audio_device_the_cli_says_so(tmp_path):
    write_song(tmp_path / "song.wav", 1.0)
    env = {**os.environ, "JACK_DEFAULT_SERVER": "no-such-server", "JACK_NO_START_SERVER": "1"}
    proc = _cli(tmp_path / "song.wav", env=env)
    assert proc.returncode != 0
    assert "no audio output device" in proc.stderr and "jackd" in proc.stderr


def _recorded_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob(".dry.wav*")) if folder.exists() else 0


def test_a_device_that_disappears_mid_stream_gives_a_clear_error_and_keeps_the_recording(tmp_path, demucs_only):
    write_song(tmp_path / "song.wav", 20.0)
    with jack_server(name="vanishing", playback_ports=2) as (server, env):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dannasep.engine.cli",
                "live",
                str(tmp_path / "song.wav"),
                "--preset",
                str(demucs_only),
                "--record",
                str(tmp_path / "rec"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 120
        # mid-stream: once two seconds of float32 stereo are on disk (in the recording's hidden
        # partial file), however busy the machine
        while _recorded_bytes(tmp_path / "rec") < 2 * SAMPLE_RATE * 2 * 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        server.kill()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "stopped (JACK server gone" in err
    assert "JACK server has been closed" in err  # JACK said so: silence alone never ends a JACK client
    assert sf.info(str(tmp_path / "rec" / "dry.wav")).frames > SAMPLE_RATE
