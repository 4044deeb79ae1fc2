"""The JACK server that tests, benches and screenshots start for themselves."""

import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from dannasep.engine.audio.jack_server import jack_server

pytestmark = pytest.mark.slow


def _jackd_running() -> bool:
    return any(_comm(p) in ("jackd", "jackdbus") for p in Path("/proc").glob("[0-9]*/comm"))


def _comm(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _start_and_kill(name: str) -> None:
    """Leave a stale entry behind in JACK's registry, as a killed server does."""
    proc = subprocess.Popen(
        ["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", "44100", "-p", "512"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(["jack_wait", "-s", name, "-w", "-t", "3"], capture_output=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_two_servers_side_by_side_get_different_names():
    with jack_server(name="pair") as (_, first), jack_server(name="pair") as (_, second):
        assert first["JACK_DEFAULT_SERVER"] != second["JACK_DEFAULT_SERVER"]
        listing = subprocess.run(["jack_lsp"], env=second, capture_output=True, text=True)
        assert "system:playback_1" in listing.stdout


def test_servers_killed_by_the_dozen_do_not_stop_the_next_one_starting():
    # this empties JACK's registry, and a process that opened a JACK client before then cannot reach
    # a server started after (libjack keeps its mapping of the old registry): test files that open
    # JACK clients in the test process (test_jack_stream*.py, test_live*.py, test_midi.py) sort after this one
    if _jackd_running():
        pytest.skip("another JACK server runs on this machine; its registry entry is not ours to judge")
    for _ in range(8):  # JACK's registry has room for eight servers
        _start_and_kill(f"killed-{uuid.uuid4().hex[:8]}")
    with jack_server(name="after-kills") as (_, env):
        listing = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True)
        assert "system:playback_1" in listing.stdout
