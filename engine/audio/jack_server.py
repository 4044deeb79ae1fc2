"""A JACK server with its dummy driver (no sound card needed): for tests, screenshots and headless
previews. Started on demand, stopped by its PID."""

import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager

from dannasep.engine.lifeline import subprocess_options


@contextmanager
def jack_server(name: str = "default", playback_ports: int = 10, period: int = 512):
    """Run `jackd --no-realtime -d dummy` until the block ends; yields its environment.

    The server is named `<name>-<pid>`, so test runs or benches side by side never share one."""
    if shutil.which("jackd") is None:
        raise RuntimeError("jackd is not installed; run scripts/setup.sh (Debian package jackd2)")
    name = f"{name}-{os.getpid()}"
    env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1", "JACK_DEFAULT_SERVER": name}
    # as a realtime server would be, JACK is favoured over the inference process it shares the CPU with
    proc = subprocess.Popen(
        [
            "nice",
            "-n",
            "-10",
            "jackd",
            "--no-realtime",
            "-n",
            name,
            "-d",
            "dummy",
            "-r",
            "44100",
            "-p",
            str(period),
            "-C",
            "2",
            "-P",
            str(playback_ports),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        **subprocess_options(env),  # a killed test run or bench must not leave a server behind
    )
    try:
        _wait_for_server(proc, env)
        previous = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = name
        try:
            yield proc, env
        finally:
            if previous is None:
                os.environ.pop("JACK_DEFAULT_SERVER", None)
            else:
                os.environ["JACK_DEFAULT_SERVER"] = previous
    finally:
        if "sounddevice" in sys.modules:
            # PortAudio's JACK client must go before the server does, or Pa_Terminate aborts at exit
            from dannasep.engine.audio.devices import release

            release()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_server(proc: subprocess.Popen, env: dict, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jackd exited: {proc.stderr.read().decode()[-500:]}")
        check = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True)
        if check.returncode == 0 and "system:playback_1" in check.stdout:
            return
        time.sleep(0.2)
    raise RuntimeError("jackd did not come up")
