"""Live input: `dannasep live --input jack` separates what a JACK client of the test's own plays
into it, through the streaming engine, and plays it back exactly `latency` samples later."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from audio_fixtures import assert_song_in_pieces, write_song
from jack_player import JackPlayer

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.constants import SAMPLE_RATE

# long hops, short context, 6 s of safety: the least compute per second, a margin for a busy machine
TIMING = ("--hop", "3", "--context", "0.25", "--safety", "6", "--threads", "1")


@pytest.mark.slow
def test_live_input_from_a_jack_client_comes_out_separated_and_exactly_latency_late(tmp_path):
    song = write_song(tmp_path / "song.wav", 6.0, seed=21)
    preset = tmp_path / "demucs.toml"
    preset.write_text("[weights.demucs]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n")
    # synchronous: every client runs every cycle however late, so a busy machine delays the graph
    # rather than cutting the input short by the periods a late client misses
    with jack_server(name="input", playback_ports=2, period=256, sync=True) as (_, env):
        command = ["live", "--input", "jack", "--preset", str(preset), "--seconds", "20"]
        command += ["--json", "--record", str(tmp_path / "rec"), "--blocksize", "256", *TIMING]
        live = subprocess.Popen(
            [sys.executable, "-m", "dannasep.engine.cli", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        player = JackPlayer(song)
        try:
            deadline = time.monotonic() + 180
            ours: list[str] = []
            while len(ours) < 2:
                assert live.poll() is None, live.stderr.read()[-2000:]
                assert time.monotonic() < deadline, "dannasep live opened no input ports"
                ours = [
                    p.name
                    for p in player.client.get_ports(is_audio=True, is_input=True)
                    if not p.name.startswith(("system:", "test-player:"))
                ]
                time.sleep(0.1)
            for out, target in zip(player.ports, sorted(ours)[:2], strict=True):
                player.client.connect(out, target)
            player.start()
            while player.position < len(song) + SAMPLE_RATE:  # the song played into the input
                assert live.poll() is None and time.monotonic() < deadline, "dannasep live ended early"
                time.sleep(0.1)
        finally:
            player.close()  # while dannasep still runs: a client gone from under it can hang JACK's close
        out, err = live.communicate(timeout=240)
    assert live.returncode == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["mode"] == "stream" and "playing the input" in out
    latency = summary["latency_samples"]
    assert latency == pytest.approx(9.5 * SAMPLE_RATE, abs=0.05 * SAMPLE_RATE)  # hop + look-ahead + safety
    dry = sf.read(str(tmp_path / "rec" / "dry.wav"), dtype="float32")[0]
    assert not dry[:latency].any(), "something played before the latency had passed"
    probe = song[SAMPLE_RATE : SAMPLE_RATE + 4096]
    starts = [j for j in np.flatnonzero(dry[:, 0] == probe[0, 0]) if np.array_equal(dry[j : j + 4096], probe)]
    assert starts, "the input never came out"
    start = starts[0] - SAMPLE_RATE  # where the song's first sample came out
    assert_song_in_pieces(dry, song)
    drums = sf.read(str(tmp_path / "rec" / "drums.wav"), dtype="float32")[0]
    assert np.sqrt(np.mean(drums[start : start + len(song)] ** 2)) > 1e-3, "no drums were separated"
