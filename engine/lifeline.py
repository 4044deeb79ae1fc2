"""Child processes that end with their parent, whatever ends the parent (kill -9 included).

Two mechanisms, because each alone has a gap:

* `PR_SET_PDEATHSIG` (Linux prctl): the kernel sends SIGKILL to the child when the thread that
  started it ends. It is a thread, not the process: a child started from a short-lived thread (the
  app loads the engine in one) would be killed when that thread returns, so it is only asked for
  when the starting thread is the main thread, whose end is the process's end.
* A watchdog thread in the child that checks every `POLL_SECONDS` whether its parent is still its
  parent (an orphan is re-parented to init or a subreaper, which changes `os.getppid()`), and
  kills its own process if not. It works for any starting thread and any platform with getppid.

Multiprocessing children get a `Lifeline` from the parent and call `hold()` first thing; plain
subprocesses get `preexec_fn=die_with_parent` and, when they run our Python code, the parent's PID
in `DANNASEP_PARENT_PID` (`hold_from_environment` in the CLI's entry point).
"""

import ctypes
import ctypes.util
import os
import signal
import threading
import time
from dataclasses import dataclass

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.2
ENVIRONMENT_KEY = "DANNASEP_PARENT_PID"


def _set_parent_death_signal() -> bool:
    """Ask the kernel for SIGKILL when the starting thread ends; False where prctl is unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent() -> None:
    """`preexec_fn` for subprocess.Popen from the main thread: the child (and what it execs) gets
    SIGKILL when the parent ends. Only async-signal-safe work here: it runs between fork and exec."""
    _set_parent_death_signal()


def _watch(parent: int) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup to wait for: the parent owned it all


def _start_watchdog(parent: int) -> None:
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)  # the parent ended before this child got this far
    threading.Thread(target=_watch, args=(parent,), name="dannasep-lifeline", daemon=True).start()


@dataclass(frozen=True)
class Lifeline:
    """Made in the parent (picklable), held in the child."""

    parent: int
    from_main_thread: bool

    @classmethod
    def here(cls) -> "Lifeline":
        """The lifeline for a child started now, from the calling thread of this process."""
        return cls(os.getpid(), threading.current_thread() is threading.main_thread())

    def hold(self) -> None:
        """In the child, first thing: end when the parent does."""
        if self.from_main_thread:
            _set_parent_death_signal()
        _start_watchdog(self.parent)


def child_environment(environment: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a Python subprocess of ours: the parent's, plus its PID to watch."""
    return {**(os.environ if environment is None else environment), ENVIRONMENT_KEY: str(os.getpid())}


def subprocess_options(environment: dict[str, str] | None = None) -> dict:
    """Keyword arguments for subprocess.run/Popen so that the child ends with this process."""
    main = threading.current_thread() is threading.main_thread()
    return {"env": child_environment(environment), "preexec_fn": die_with_parent if main else None}


def hold_from_environment() -> None:
    """In a Python subprocess of ours: end with the parent named in the environment, if any."""
    value = os.environ.pop(ENVIRONMENT_KEY, "")
    if value.isdigit():
        _start_watchdog(int(value))
