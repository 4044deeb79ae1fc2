"""Render-ahead playback of a file: the live engine's device, mixer, control plane and recorder,
with the stems coming from a render process that runs the offline path ahead of the playhead.

Threads and processes:
- the render process (renderer.py): torch; renders into the StemCache what the playhead plays next.
- the audio callback (callback.py): reads the cache at the playhead, fuses with the current
  weights, mixes. Latency is 0: the playhead is what is heard.
- the controlling thread (CLI, GUI) calls `check_health`, which also watches the render's speed:
  when it cannot keep ahead (render real-time factor above `fallback_rtf`), the engine starts the
  streaming engine, stops the render process and hands the audio over at the playhead (`fall_back`);
  and it unmaps the cache away from the playhead (see cache.py on what stays in memory).
"""

import multiprocessing
import time
from dataclasses import dataclass, field

import numpy as np

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.errors import DannaSepError
from dannasep.engine.lifeline import Lifeline
from dannasep.engine.renderahead import cache as slots
from dannasep.engine.renderahead.cache import StemCache
from dannasep.engine.renderahead.callback import SEEKS_KEPT, RenderAheadCallback
from dannasep.engine.renderahead.export import RenderRecipe
from dannasep.engine.renderahead.playback import fusion_matrix
from dannasep.engine.renderahead.renderer import RenderSpec, run_renderer
from dannasep.engine.renderahead.settings import RenderAheadSettings
from dannasep.engine.separation.config import SeparatorConfig
from dannasep.engine.streaming.audio_callback import AudioCallback, BlockControl, CallbackSetup, ControlSlot
from dannasep.engine.streaming.config import EngineStatus, LiveConfig
from dannasep.engine.streaming.engine import LiveEngine

MODE_RENDER, MODE_STREAM = "render-ahead", "stream"
RESIDENT_BEFORE, RESIDENT_AFTER = 1.0, 5.0
"""Seconds of the cache the audio process keeps mapped behind and ahead of the playhead."""


@dataclass
class RenderAheadStatus(EngineStatus):
    mode: str = MODE_RENDER
    fallback: str = ""
    """Why the engine switched to streaming, if it did."""
    lead_seconds: float = 0.0
    """Audio held in the cache ahead of the playhead."""
    render_rtf: float = 0.0
    first_sound_ms: float | None = None
    seek_ms: list[float] = field(default_factory=list)
    cache_mb: float = 0.0
    rendered: list[tuple[float, float]] = field(default_factory=list)
    """Spans of the song (seconds) the cache holds, for a buffer bar."""
    final: list[tuple[float, float]] = field(default_factory=list)
    """The part of `rendered` the offline plan made (the rest came from quick chunks)."""
    quick_seconds_played: float = 0.0
    fallback_gap_ms: float | None = None
    """After a fallback: the silence between the cache's last block and the streaming output."""
    quick_played: list[tuple[float, float]] = field(default_factory=list)
    """Spans of what played (seconds from the start of playing, as a recording holds it) that came
    from quick chunks rather than the offline plan."""


class LeadRecord:
    """The leads seen while sound played, for their min and median, in constant memory however long
    the app plays: a histogram of STEP-second bins."""

    STEP = 0.01
    BINS = 30_000

    def __init__(self):
        self._counts = np.zeros(self.BINS, dtype=np.int64)
        self._min = np.inf

    def add(self, lead: float) -> None:
        self._min = min(self._min, lead)
        self._counts[min(self.BINS - 1, max(0, round(lead / self.STEP)))] += 1

    def summary(self) -> tuple[float, float] | None:
        """(min, median), the median to the nearest bin; None before any lead was seen."""
        total = int(self._counts.sum())
        if total == 0:
            return None
        middle = int(np.searchsorted(np.cumsum(self._counts), (total + 1) / 2))
        return self._min, middle * self.STEP


class RenderAheadEngine(LiveEngine):
    def __init__(self, config: LiveConfig, settings: RenderAheadSettings | None = None):
        if config.source is None:
            raise DannaSepError("render-ahead plays files; live input goes through the streaming engine")
        self.settings = settings or RenderAheadSettings()
        self._cache: StemCache | None = None
        super().__init__(config)
        self.mode = MODE_RENDER
        self.fallback = ""
        self._render = None
        self._pipe = None
        self._weights = ControlSlot(fusion_matrix(self.control.state, self.models))
        self._seek_asked = np.zeros(SEEKS_KEPT)
        self.render_callback: RenderAheadCallback | None = None
        self.leads = LeadRecord()
        self._cache.keep_resident(0, 0)  # the decoded song is in the file; the playhead maps what it plays

    # -- lifecycle ---------------------------------------------------------------------------
    def _start_worker(self) -> None:
        cfg, settings = self.config, self.settings
        separator = SeparatorConfig(
            preset=cfg.preset,
            weights_dir=cfg.weights_dir,
            size=cfg.size,
            precision=cfg.precision,
            wiener_iterations=cfg.wiener_iterations,
            threads=cfg.threads,
        )
        spec = RenderSpec(
            cache_path=str(self._cache.path),
            layout=self._cache.layout,
            models=self.models,
            separator=separator,
            settings=settings,
            nice=cfg.worker_nice,
            lifeline=Lifeline.here(),
        )
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child = ctx.Pipe()
        process = ctx.Process(target=run_renderer, args=(spec, child), name="dannasep-render", daemon=True)
        process.start()
        self._render = process
        deadline = time.monotonic() + cfg.startup_timeout
        while not self._pipe.poll(0.2):
            if not process.is_alive():
                raise DannaSepError(f"the render process ended while loading (exit code {process.exitcode})")
            if time.monotonic() > deadline:
                raise DannaSepError(f"the render process did not start within {cfg.startup_timeout:.0f} s")
        kind, info = self._pipe.recv()
        if kind != "ready":
            raise DannaSepError(f"the render process failed to start: {info.splitlines()[0]}")
        self._cache.unlink()  # both processes hold the mapping; nothing is left behind if either dies
        self.model_provenance = dict(info["models"])
        self.trained = bool(info["trained"])
        self.latency_samples = 0
        self.control.subscribe(self._on_change)

    def _song_buffer(self, length: int) -> np.ndarray:
        """The song is decoded straight into the cache file both processes map: one copy in memory."""
        settings = self.settings
        self._cache = StemCache.create(length, len(self.models), settings.page_frames, settings.cache_mb)
        return self._cache.audio

    def _make_callback(self, setup: CallbackSetup) -> AudioCallback:
        self.render_callback = RenderAheadCallback(setup, self._slot, self._cache, self._weights, self._seek_asked)
        return self.render_callback

    def _callback_setup(self) -> CallbackSetup:
        if self.mode == MODE_STREAM:
            return super()._callback_setup()
        return CallbackSetup(
            in_ring=None,
            lane_rings=(),
            latency=0,
            audio=self.audio,
            recorder=self._recorder,
            **self._output_layout(),
        )

    def _stop_renderer(self) -> None:
        if self._render is None:
            return
        if self._cache is not None:
            self._cache.control[slots.STOP] = 1
        self._render.join(timeout=10)
        if self._render.is_alive():
            self._render.kill()
            self._render.join()
        self._render = None

    def stop(self) -> list:
        self._stop_renderer()
        recorded = super().stop()
        if self._cache is not None:
            self._cache.unlink()
        return recorded

    # -- control -----------------------------------------------------------------------------
    def _on_change(self, old, new, source: str) -> None:
        if new.weights != old.weights:
            self._weights.publish(fusion_matrix(new, self.models))
        if new.transport.seek_id != old.transport.seek_id:
            self._seek_asked[new.transport.seek_id % SEEKS_KEPT] = time.monotonic()
        if self._ctrl is not None:  # streaming (after a fallback): the inference processes get the weights
            super()._on_change(old, new, source)
        else:
            self._slot.publish(BlockControl.of(new))

    # -- status and health -----------------------------------------------------------------------
    def render_rtf(self) -> float:
        """Compute seconds per second of audio the render made, quick chunks included."""
        if self._cache is None:
            return 0.0
        timings, counters = self._cache.timings, self._cache.counters
        compute = timings[slots.PLAN_COMPUTE] + timings[slots.QUICK_COMPUTE]
        audio = timings[slots.PLAN_AUDIO] + counters[slots.QUICK_FRAMES] / SAMPLE_RATE
        return float(compute / audio) if audio > 0 else 0.0

    def lead_seconds(self) -> float:
        if self._cache is None or self.render_callback is None:
            return 0.0
        playhead = self.render_callback.source.position
        return (self._cache.covered_until(playhead) - playhead) / SAMPLE_RATE

    def rendered_spans(self, final: bool = False) -> list[tuple[float, float]]:
        """Song spans (seconds) the cache holds data for (final data when `final`), merged."""
        spans = self._cache.spans(final) if self._cache is not None else []
        return [(start / SAMPLE_RATE, stop / SAMPLE_RATE) for start, stop in spans]

    def quick_spans(self) -> list[tuple[int, int]]:
        return self._cache.quick_spans() if self._cache is not None else []

    def status(self) -> RenderAheadStatus:
        base = super().status()
        fields = {name: getattr(base, name) for name in EngineStatus.__dataclass_fields__}
        played = self.render_callback
        if self.mode == MODE_RENDER:
            fields["position"] = played.source.position / SAMPLE_RATE if played is not None else 0.0
            lead = self.lead_seconds()
            if fields["playing"] and played is not None and played.sounding:
                self.leads.add(lead)
        else:
            lead = 0.0
        seeks = min(played.seeks, SEEKS_KEPT) if played is not None else 0
        return RenderAheadStatus(
            **fields,
            mode=self.mode,
            fallback=self.fallback,
            lead_seconds=lead,
            render_rtf=self.render_rtf(),
            first_sound_ms=played.first_sound_ms if played is not None else None,
            seek_ms=[float(v) for v in played.seek_ms[:seeks]] if played is not None else [],
            cache_mb=self._cache.layout.stem_bytes / 2**20 if self._cache is not None else 0.0,
            rendered=self.rendered_spans() if self.mode == MODE_RENDER else [],
            final=self.rendered_spans(final=True) if self.mode == MODE_RENDER else [],
            quick_seconds_played=played.quick_frames_played / SAMPLE_RATE if played is not None else 0.0,
            fallback_gap_ms=1000 * played.handover_gap / SAMPLE_RATE if played and played.streaming else None,
            quick_played=[(a / SAMPLE_RATE, b / SAMPLE_RATE) for a, b in played.quick_played_spans()] if played else [],
        )

    @property
    def render_pid(self) -> int | None:
        """The render process's id while it runs (not after a fallback)."""
        return self._render.pid if self._render is not None else None

    def recipe(self) -> RenderRecipe:
        cfg = self.config
        return RenderRecipe(frozenset(self.models), cfg.weights_dir, cfg.size, cfg.precision, cfg.wiener_iterations)

    def complete_cache(self) -> StemCache | None:
        """The cache when the offline plan has rendered the whole song into it, else None."""
        cache = self._cache
        if self.mode != MODE_RENDER or cache is None or cache.covered_until(0, final=True) < cache.length:
            return None
        return cache

    def lead_summary(self) -> tuple[float, float] | None:
        """(min, median) of the lead seen by status() while sound played."""
        return self.leads.summary()

    def check_health(self) -> None:
        if self.mode == MODE_RENDER:
            if self._render is not None and not self._render.is_alive():
                raise DannaSepError("the render process stopped unexpectedly")
            self._fall_back_if_behind()
            self._keep_playhead_resident()
        super().check_health()

    def _keep_playhead_resident(self) -> None:
        """Keep mapped only the cache around the playhead (the callback would map the rest back
        in as it plays it, at a page fault's cost)."""
        if self._cache is None or self.render_callback is None or self.mode != MODE_RENDER:
            return
        before, after = self.settings.samples(RESIDENT_BEFORE), self.settings.samples(RESIDENT_AFTER)
        playhead = self.render_callback.source.position
        self._cache.keep_resident(playhead - before, playhead + after)

    def _fall_back_if_behind(self) -> None:
        if self._cache is None or self.finished:
            return
        timings, counters = self._cache.timings, self._cache.counters
        if counters[slots.CHUNKS] >= 2:  # the offline plan's own pace, once measured
            rtf = float(timings[slots.PLAN_COMPUTE] / timings[slots.PLAN_AUDIO])
        elif timings[slots.PLAN_COMPUTE] + timings[slots.QUICK_COMPUTE] >= self.settings.fallback_after:
            rtf = self.render_rtf()
        else:
            return
        if rtf > self.settings.fallback_rtf:
            self.fall_back(f"the render could not keep ahead (real-time factor {rtf:.2f})")

    def fall_back(self, reason: str) -> None:
        """Go on with the streaming engine: start its inference while the render still fills the
        cache, then stop the render and hand the audio over to a streaming callback at the playhead
        (without a gap where the cache holds the streaming latency; see callback.py)."""
        self.fallback = reason
        LiveEngine._start_worker(self)  # the cache plays on (and the render goes on) while the models load
        self.control.unsubscribe(self._on_change)  # _start_worker subscribed it a second time
        self._stop_renderer()
        self.mode = MODE_STREAM
        self.latency_changed()
        streaming = AudioCallback(self._callback_setup(), self._slot)
        streaming.player.set_loop(self.control.state.transport.loop)
        self._slot.publish(BlockControl.of(self.control.state))
        self.render_callback.hand_over(streaming)
