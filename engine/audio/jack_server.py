"""A JACK server with its dummy driver (no sound card needed): for tests, screenshots and headless
previews. Started on demand, stopped by its PID."""

import fcntl
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from dannasep.engine.lifeline import subprocess_options


@contextmanager
def jack_server(name: str = "default", playback_ports: int = 10, period: int = 512, sync: bool = False):
    """Run `jackd --no-realtime -d dummy` until the block ends; yields its environment.

    The server is named `<name>-<slot>`, the first slot no other run holds, so runs side by side never
    share one. `sync` runs it synchronously (`-S`) with a 10 s client timeout: every client then
    processes every cycle, in graph order, however late, which is what sample-exact measurements need
    on a busy machine (asynchronously, a cycle a late client overruns can be lost to those after it)."""
    if shutil.which("jackd") is None:
        raise RuntimeError("jackd is not installed; run scripts/setup.sh (Debian package jackd2)")
    options = ["-S", "-t", "10000"] if sync else []
    with _free_slot(name) as name:
        yield from _serve(name, playback_ports, period, options)


@contextmanager
def _free_slot(name: str, slots: int = 16) -> Iterator[str]:
    """Hold a lock on `<name>-<slot>` for the first free slot.

    JACK's registry of servers has room for eight and frees an entry only when a server of the same
    name starts again; a name unique to each run would fill it with the entries of killed servers."""
    folder = Path(tempfile.gettempdir()) / "dannasep-jack"
    folder.mkdir(exist_ok=True)
    for slot in range(slots):
        with open(folder / f"{name}-{slot}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            yield f"{name}-{slot}"
            return
    raise RuntimeError(f"all {slots} JACK server names {name}-* are in use by other runs")


def _serve(name: str, playback_ports: int, period: int, options: list[str]) -> Iterator[tuple[subprocess.Popen, dict]]:
    env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1", "JACK_DEFAULT_SERVER": name}
    try:
        proc = _start(name, playback_ports, period, env, options)
    except RegistryFullError:
        _forget_dead_servers()
        proc = _start(name, playback_ports, period, env, options)
    try:
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
        _stop(proc)


class RegistryFullError(RuntimeError):
    """JACK's registry of running servers has no free entry."""


REGISTRY = Path("/dev/shm/jack-shm-registry")


def _start(name: str, playback_ports: int, period: int, env: dict, options: list[str]) -> subprocess.Popen:
    command = ["jackd", "--no-realtime", *options, "-n", name, "-d", "dummy", "-r", "44100", "-p", str(period)]
    command += ["-C", "2", "-P", str(playback_ports)]
    # messages go to a file, not a pipe: nobody reads them while jackd runs, and a full pipe blocks it
    with tempfile.TemporaryFile() as log:
        # as a realtime server would be, JACK is favoured over the inference process it shares the CPU with
        proc = subprocess.Popen(
            ["nice", "-n", "-10", *command],
            stdout=subprocess.DEVNULL,
            stderr=log,
            **subprocess_options(env),  # a killed test run or bench must not leave a server behind
        )
        try:
            _wait_for_server(proc, env, log)
        except BaseException:
            _stop(proc)
            raise
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _forget_dead_servers() -> None:
    """Free the registry entries of servers that were killed.

    JACK frees a dead server's entry when a server of the same name registers, so each dead name is
    started once and stopped cleanly. The registry's layout (a 24-byte header, then eight entries of
    a 4-byte PID and a 260-byte `jack-<uid>:<name>:` prefix) is jack2's, unchanged for years."""
    dead = [name for pid, name in _registry_entries() if pid and not _alive(pid)]
    if not dead:
        raise RuntimeError(f"JACK's registry ({REGISTRY}) is full of running servers; stop one of them")
    for name in dead:
        env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1", "JACK_DEFAULT_SERVER": name}
        _stop(_start(name, 2, 512, env, []))


def _registry_entries() -> list[tuple[int, str]]:
    """(pid, server name) of every entry in JACK's registry of servers."""
    data = REGISTRY.read_bytes()
    header, stride = 24, 264
    (header_length,) = struct.unpack_from("<I", data, 16)
    entries = []
    for offset in range(header, min(header_length, len(data)) - stride + 1, stride):
        (pid,) = struct.unpack_from("<i", data, offset)
        prefix = data[offset + 4 : offset + stride].split(b"\0", 1)[0].decode(errors="replace")
        if pid and prefix.count(":") >= 2:
            entries.append((pid, prefix.split(":", 1)[1].rsplit(":", 1)[0]))
    return entries


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_for_server(proc: subprocess.Popen, env: dict, log: IO[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            message = log.read().decode(errors="replace")[-500:]
            if "Too many servers already active" in message:
                raise RegistryFullError(message)
            raise RuntimeError(f"jackd exited: {message}")
        check = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True)
        if check.returncode == 0 and "system:playback_1" in check.stdout:
            return
        time.sleep(0.2)
    raise RuntimeError("jackd did not come up")
