"""No process outlives the engine: the inference processes (and anything else ours starts) end
within 2 s of their parent's end, SIGKILL included, whichever thread started them."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from audio_fixtures import write_song

from dannasep.engine.audio.jack_server import jack_server

ENDS_WITHIN = 2.0  # seconds, what the engine promises


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = _children(todo.pop())
        found += children
        todo += children
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan is a zombie until init reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _running(p)]


@pytest.fixture(scope="module")
def jack():
    with jack_server() as server:
        yield server


@pytest.mark.slow
def test_sigkill_of_dannasep_live_mid_play_ends_its_inference_processes(jack, tmp_path):
    write_song(tmp_path / "song.wav", 30.0, seed=9)
    preset = tmp_path / "two.toml"
    preset.write_text(
        "".join(f"[weights.{m}]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n" for m in ("xumx", "demucs"))
    )
    command = [sys.executable, "-m", "dannasep.engine.cli", "live", str(tmp_path / "song.wav")]
    live = subprocess.Popen(
        [*command, "--mode", "stream", "--preset", str(preset), "--processes", "2", "--record", str(tmp_path / "rec")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "rec").exists():  # the recorder starts with the stream: it plays
            assert live.poll() is None and time.monotonic() < deadline, "dannasep live did not start playing"
            time.sleep(0.1)
        time.sleep(1.0)
        inference = [p for p in _descendants(live.pid) if "dannasep-inference" in _command(p) or _is_spawn(p)]
        assert len(inference) >= 2, [_command(p) for p in _descendants(live.pid)]
        everything = _descendants(live.pid)
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait()
    assert _wait_gone(everything, ENDS_WITHIN) == []


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _is_spawn(pid: int) -> bool:
    return "multiprocessing.spawn" in _command(pid) and "resource_tracker" not in _command(pid)


PARENT_SCRIPT = textwrap.dedent(
    """
    import multiprocessing, sys, threading, time
    from dannasep.engine.lifeline import Lifeline

    def child(lifeline):
        lifeline.hold()
        time.sleep(600)

    def start():
        process = multiprocessing.get_context("spawn").Process(target=child, args=(Lifeline.here(),))
        process.start()
        print(process.pid, flush=True)

    if __name__ == "__main__":
        if sys.argv[1] == "thread":  # as the app does: the engine is started by a loader thread
            worker = threading.Thread(target=start)
            worker.start()
            worker.join()
        else:
            start()
        time.sleep(3)  # the child outlives the thread that started it
        print("still", flush=True)
        time.sleep(600)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_a_child_ends_with_its_killed_parent_whichever_thread_started_it(tmp_path, started_from):
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script), started_from], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "still"
        assert _running(child), "the child ended with the thread that started it, not with its parent"
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert _wait_gone([child], ENDS_WITHIN) == []


def test_a_subprocess_of_ours_ends_with_its_killed_parent(tmp_path):
    """A bench's `dannasep separate`-style child: PR_SET_PDEATHSIG from preexec_fn, and the
    parent's PID in the environment for the watchdog."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "from dannasep.engine.lifeline import subprocess_options\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], **subprocess_options())\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert _wait_gone([child], ENDS_WITHIN) == []
    assert os.environ.get("DANNASEP_PARENT_PID") is None
