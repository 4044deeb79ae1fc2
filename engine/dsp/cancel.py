"""Cancellation points in long computations that are not network layers (the render process of
render-ahead playback checks its playhead before every layer through a torch hook; the Wiener
filter of a long window runs for tenths of a second between two layers).

The process sets one check (None: none); `point()` calls it, and whatever it raises ends the
computation."""

from collections.abc import Callable

_check: Callable[[], None] | None = None


def set_check(check: Callable[[], None] | None) -> None:
    global _check
    _check = check


def point() -> None:
    if _check is not None:
        _check()
