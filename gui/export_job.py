"""Export in the background: the offline quality path (`Separator.separate_file`) in its own
process at a low CPU priority (EXPORT_NICENESS) with one thread, so the window never freezes and
live playback keeps the CPU it needs. Progress comes back through a queue the GUI polls; cancelling asks the
process to stop at the next chunk (its writer then removes its temporary files), and stops it
outright after a grace period, removing any temporary file it left.
"""

import contextlib
import math
import multiprocessing
import os
import queue
import time
from dataclasses import dataclass
from pathlib import Path

from dannasep.engine.lifeline import Lifeline
from dannasep.engine.separation.naming import OutputNaming

CANCEL_GRACE_SECONDS = 3.0
# Low enough that playback (niceness 0) gets about nine tenths of a shared core, not so low (19) that
# any busy program on the machine starves the export: at 19 it gets about 1/70 of a core beside one.
EXPORT_NICENESS = 10


@dataclass(frozen=True)
class ExportRequest:
    source: Path
    out_dir: Path
    stems: tuple[str, ...]
    container: str = "wav"
    bits: str = "24"
    template: str = "{track}/{stem}.{ext}"
    preset: str = "paper"
    weights_dir: Path | None = None
    size: str | None = None
    overwrite: bool = False
    precision: str = "auto"
    wiener_iterations: int = 1

    def naming(self) -> OutputNaming:
        """The stem files' names (the same for the offline path and the cache)."""
        return OutputNaming(self.out_dir, self.template, self.container, Path(self.preset).stem, self.overwrite)


class ExportCancelledError(Exception):
    pass


def _export(request: ExportRequest, progress: multiprocessing.Queue, cancel, lifeline: Lifeline) -> None:
    """Process entry point: reports ("progress", done, total), then ("done", paths) or ("error", text)."""
    lifeline.hold()
    with contextlib.suppress(OSError):
        os.nice(EXPORT_NICENESS)
    try:
        from dannasep.engine.audio.writer import AudioFormat
        from dannasep.engine.errors import DannaSepError
        from dannasep.engine.separation.separator import Separator, SeparatorConfig

        separator = Separator(
            SeparatorConfig(
                preset=request.preset,
                weights_dir=request.weights_dir,
                size=request.size,
                stems=request.stems,
                precision=request.precision,
                wiener_iterations=request.wiener_iterations,
                threads=1,
            )
        )
        naming = request.naming()

        def report(done: int, total: int) -> None:
            if cancel.is_set():
                raise ExportCancelledError
            progress.put(("progress", done, total))

        result = separator.separate_file(
            request.source, naming, AudioFormat(request.container, request.bits), progress=report
        )
        progress.put(("done", [str(p) for p in result.outputs.values()]))
    except ExportCancelledError:
        progress.put(("cancelled",))
    except DannaSepError as exc:
        progress.put(("error", str(exc)))
    except Exception as exc:
        progress.put(("error", f"{type(exc).__name__}: {exc}"))


def remaining_seconds(started: float, done_fraction: float) -> float | None:
    """Time left at the pace since `started` (time.monotonic()); None until 1 % is done."""
    if done_fraction <= 0.01:
        return None
    return (time.monotonic() - started) * (1.0 - done_fraction) / done_fraction


class ExportJob:
    """One running export. Poll `poll()` from a timer; it returns the latest event or None."""

    from_cache = False

    def __init__(self, request: ExportRequest):
        self.request = request
        ctx = multiprocessing.get_context("spawn")
        self._queue = ctx.Queue()
        self._cancel = ctx.Event()
        self._process = ctx.Process(
            target=_export,
            args=(request, self._queue, self._cancel, Lifeline.here()),
            name="dannasep-export",
            daemon=True,
        )
        self.started = time.monotonic()
        self.done_fraction = 0.0
        self.state = "running"
        self.outputs: list[str] = []
        self.error = ""
        self._cancel_requested_at: float | None = None
        self._process.start()

    @property
    def eta_seconds(self) -> float | None:
        return remaining_seconds(self.started, self.done_fraction)

    def poll(self) -> str:
        """Drain progress messages; returns the job state (running, done, cancelled, error)."""
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            kind = event[0]
            if kind == "progress":
                self.done_fraction = event[1] / max(1, event[2])
            elif kind == "done":
                self.state, self.outputs, self.done_fraction = "done", event[1], 1.0
            elif kind == "cancelled":
                self.state = "cancelled"
            elif kind == "error":
                self.state, self.error = "error", event[1]
        waited = time.monotonic() - (self._cancel_requested_at or math.inf)
        if self.state == "running" and waited > CANCEL_GRACE_SECONDS:
            self._kill()
            self.state = "cancelled"
        if self.state == "running" and not self._process.is_alive() and self._queue.empty():
            self.state, self.error = "error", "the export process stopped unexpectedly"
        return self.state

    def cancel(self) -> None:
        if self.state == "running":
            self._cancel.set()
            self._cancel_requested_at = time.monotonic()

    def _kill(self) -> None:
        self._process.terminate()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        # the writer names its temporary files ".<final name>.<random>.partial" beside the targets
        for partial in self.request.out_dir.rglob(".*.partial"):
            partial.unlink(missing_ok=True)
