"""The instant export: when the render-ahead engine playing the file has rendered the whole song
with the networks, weights and settings the offline export would use, the stems are fused from its
cache and written (engine.renderahead.export) in a thread of the app, instead of separating again
in a process. The job answers like ExportJob (poll, cancel, progress, outputs)."""

import threading
import time
from pathlib import Path

from dannasep.engine.audio.writer import AudioFormat
from dannasep.engine.errors import DannaSepError
from dannasep.engine.fusion.presets import load_preset
from dannasep.engine.renderahead.engine import RenderAheadEngine
from dannasep.engine.renderahead.export import RenderRecipe, write_from_cache
from dannasep.engine.streaming.engine import LiveEngine
from dannasep.gui.export_job import ExportCancelledError, ExportRequest, remaining_seconds


def request_recipe(request: ExportRequest) -> RenderRecipe:
    """What the offline export of `request` would run."""
    models = load_preset(request.preset).restricted_to(request.stems).models
    return RenderRecipe(
        frozenset(models), request.weights_dir, request.size, request.precision, request.wiener_iterations
    )


def why_not_from_cache(engine: LiveEngine | None, source: Path | None, request: ExportRequest) -> str:
    """Why the playing engine's cache cannot stand in for the offline export ("" when it can)."""
    if not isinstance(engine, RenderAheadEngine) or source is None:
        return "the file is not playing through render-ahead"
    if Path(request.source) != Path(source):
        return "the export is of another file"
    if engine.complete_cache() is None:
        return "the render has not covered the whole song yet"
    differ = engine.recipe().differences(request_recipe(request))
    if differ:
        return f"the render used other {', '.join(differ)}"
    return ""


class CacheExportJob:
    from_cache = True

    def __init__(self, request: ExportRequest, engine: RenderAheadEngine):
        cache = engine.complete_cache()
        if cache is None:
            raise DannaSepError("the render cache no longer holds the whole song")
        self.request = request
        self.started = time.monotonic()
        self.done_fraction = 0.0
        self.state = "running"
        self.outputs: list[str] = []
        self.error = ""
        self._cancel = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(cache, engine.models), name="dannasep-cache-export", daemon=True
        )
        self._thread.start()

    def _run(self, cache, models: tuple[str, ...]) -> None:
        request = self.request

        def report(done: int, total: int) -> None:
            if self._cancel.is_set():
                raise ExportCancelledError
            self.done_fraction = done / max(1, total)

        try:
            preset = load_preset(request.preset).restricted_to(request.stems)
            fmt = AudioFormat(request.container, request.bits)
            naming = request.naming()
            paths = write_from_cache(cache, models, preset, request.source, request.stems, naming, fmt, report)
            self.outputs, self.done_fraction, self.state = [str(p) for p in paths], 1.0, "done"
        except ExportCancelledError:
            self.state = "cancelled"
        except DannaSepError as exc:
            self.error, self.state = str(exc), "error"
        except Exception as exc:
            self.error, self.state = f"{type(exc).__name__}: {exc}", "error"

    @property
    def eta_seconds(self) -> float | None:
        return remaining_seconds(self.started, self.done_fraction)

    def poll(self) -> str:
        return self.state

    def cancel(self) -> None:
        if self.state == "running":
            self._cancel.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
