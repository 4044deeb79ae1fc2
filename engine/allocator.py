"""Running the `dannasep` command under tcmalloc.

The networks allocate and free activations of hundreds of megabytes per layer (the paper U-Net's
full-resolution feature maps). glibc serves blocks that large with fresh mmap()s and returns them
on free(), so every layer page-faults its output in again; tcmalloc keeps freed pages for reuse,
faster for some more peak RAM (README, Benchmarks). The allocator can only be chosen before the
process starts, so the command re-executes itself once with LD_PRELOAD set.
DANNASEP_ALLOCATOR=system keeps glibc's.
"""

import ctypes.util
import os
import sys

ENV_SWITCH = "DANNASEP_ALLOCATOR"
LIBRARY = "tcmalloc_minimal"


def preloaded_library() -> str | None:
    """The tcmalloc library this process was started with, if any."""
    return next((lib for lib in os.environ.get("LD_PRELOAD", "").split(":") if LIBRARY in lib), None)


def use_fast_allocator(arguments: list[str] | None = None) -> None:
    """Re-executes this Python program under tcmalloc unless it already runs under it, the
    library is not installed (nothing happens), or DANNASEP_ALLOCATOR=system. Never returns when it
    re-executes.

    Args:
        arguments: the interpreter's arguments for the restart; default: exactly those this
            process was started with (``-m`` included, which multiprocessing's spawn relies on).
    """
    if os.environ.get(ENV_SWITCH, "tcmalloc") == "system" or preloaded_library():
        return
    library = ctypes.util.find_library(LIBRARY)
    if library is None:
        return
    preload = ":".join(filter(None, [library, os.environ.get("LD_PRELOAD")]))
    env = dict(os.environ, LD_PRELOAD=preload, **{ENV_SWITCH: "tcmalloc"})
    arguments = sys.orig_argv[1:] if arguments is None else arguments
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *arguments], env)
