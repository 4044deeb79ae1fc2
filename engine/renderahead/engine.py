"""Render-ahead playback of a file: the live engine's device, mixer, control plane and recorder,
with the stems coming from a render process that runs the offline path ahead of the playhead.

Threads and processes:
- the render process (renderer.py): torch; renders into the StemCache what the playhead plays next.
- the audio callback: reads the cache at the playhead, fuses with the current weights, mixes. While
  the cache does not hold the next block (after a start or a seek to audio not yet rendered) it
  plays silence and holds the playhead, like a video player buffering; a block missing after
  sound started counts as an engine under-run. Only blocks that played reach the recorder, so a
  recording is the song's stems without the buffering gaps. Latency is 0: the playhead is what is
  heard.
- the controlling thread (CLI, GUI) calls `check_health`, which also watches the render's speed:
  when it cannot keep ahead (render real-time factor above `fallback_rtf`), the engine stops the
  render process and goes on with the streaming engine from the playhead (after its latency).
"""

import multiprocessing
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.errors import DannaSepError
from dannasep.engine.lifeline import Lifeline
from dannasep.engine.renderahead import cache as slots
from dannasep.engine.renderahead.cache import StemCache
from dannasep.engine.renderahead.playback import QUALITY_QUICK, CachePlayer, fusion_matrix
from dannasep.engine.renderahead.renderer import RenderSpec, run_renderer
from dannasep.engine.renderahead.settings import RenderAheadSettings
from dannasep.engine.streaming.engine import MAX_BLOCK, EngineStatus, LiveConfig, LiveEngine

MODE_RENDER, MODE_STREAM = "render-ahead", "stream"
SEEKS_KEPT = 256


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
    quick_seconds_played: float = 0.0


class RenderAheadEngine(LiveEngine):
    def __init__(self, config: LiveConfig, settings: RenderAheadSettings | None = None):
        if config.source is None:
            raise DannaSepError("render-ahead plays files; live input goes through the streaming engine")
        super().__init__(config)
        self.settings = settings or RenderAheadSettings()
        self.mode = MODE_RENDER
        self.fallback = ""
        self._cache: StemCache | None = None
        self._render = None
        self._pipe = None
        self._player_cache: CachePlayer | None = None
        self._weights = fusion_matrix(self.control.state, self.models)
        self._sounding = False
        self._asked_at = 0.0  # when the current wait for sound began (start or seek)
        self.first_sound_ms: float | None = None
        self._seek_asked = np.zeros(SEEKS_KEPT)
        self._seek_ms = np.zeros(SEEKS_KEPT)
        self._seeks = 0
        self._waiting_seek = -1
        self.quick_frames_played = 0
        self.leads: list[float] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def _start_worker(self) -> None:
        from dannasep.engine.separation.separator import SeparatorConfig

        cfg, settings = self.config, self.settings
        self._cache = StemCache.create(self.audio.T, len(self.models), settings.page_frames, settings.cache_mb)
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

    def _open_stream(self, sd, output, input_device, out_channels: int) -> None:
        self._player_cache = CachePlayer(self.audio, self._cache, self._weights, MAX_BLOCK)
        self._publish_transport(self.control.state.transport)
        self._asked_at = time.monotonic()
        super()._open_stream(sd, output, input_device, out_channels)

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
            self._weights = fusion_matrix(new, self.models)
        if new.transport.seek_id != old.transport.seek_id:
            self._seek_asked[new.transport.seek_id % SEEKS_KEPT] = time.monotonic()
        if self._ctrl is not None:  # streaming (after a fallback)
            super()._on_change(old, new, source)
        else:
            self._apply_mixer(new)

    def _publish_transport(self, transport) -> None:
        control = self._cache.control
        loop = self._player_cache.loop if self._player_cache is not None else None
        control[slots.LOOP_START], control[slots.LOOP_END] = loop if loop is not None else (-1, -1)
        control[slots.PLAYHEAD] = self._player_cache.wanted if self._player_cache is not None else 0
        control[slots.SEEK_ID] = transport.seek_id  # after the playhead: the renderer reads them in this order

    # -- the audio callback ------------------------------------------------------------------
    def _fill(self, *args) -> None:
        if self.mode == MODE_STREAM:
            return super()._fill(*args)
        outdata, frames, _time, status = args[-4:]
        now = self._last_callback = time.monotonic()
        if not self._prioritised:
            self._prioritise_audio_thread()
        if status.output_underflow:
            self._count_xrun(self._position)
            self.device_underflows += 1
        transport = self._state.transport
        player = self._player_cache
        if transport.seek_id != self._seek_id:
            self._seek_id = transport.seek_id
            player.seek(transport.seek_to)
            self._sounding, self._asked_at = False, self._seek_asked[self._seek_id % SEEKS_KEPT] or now
            self._waiting_seek = self._seek_id
        if transport.loop != self._loop:
            self._loop = transport.loop
            player.set_loop(transport.loop)
        self._publish_transport(transport)
        if not transport.playing or self.finished:
            outdata.fill(0.0)
            return
        player.weights = self._weights
        out = self._output_block[:frames]
        if not player.play_block(out):
            outdata.fill(0.0)
            if self._sounding:
                self._count_xrun(self._position)
                self.underruns += 1
            return
        if not self._sounding:
            self._heard(now)
        if player.quality == QUALITY_QUICK:
            self.quick_frames_played += frames
        self._mixer.process(out, outdata)
        self._levels[self._level_count % len(self._levels)] = self._mixer.peaks
        self._level_count += 1
        if self._recorder is not None:
            self._recorder.push(self._mixer.post[:frames])
        self._position += frames
        self._cache.control[slots.PLAYHEAD] = player.wanted
        if player.ended:
            self.finished = True

    def _heard(self, now: float) -> None:
        self._sounding = True
        waited = 1000.0 * (now - self._asked_at)
        if self._waiting_seek >= 0:
            self._seek_ms[self._seeks % SEEKS_KEPT] = waited
            self._seeks += 1
            self._waiting_seek = -1
        elif self.first_sound_ms is None:
            self.first_sound_ms = waited

    def _count_xrun(self, position: int) -> None:
        if self.underruns + self.device_underflows < len(self._xrun_positions):
            self._xrun_positions[self.underruns + self.device_underflows] = position

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
        if self._cache is None or self._player_cache is None:
            return 0.0
        playhead = self._player_cache.position
        return (self._cache.covered_until(playhead) - playhead) / SAMPLE_RATE

    def rendered_spans(self) -> list[tuple[float, float]]:
        """Song spans (seconds) the cache holds data for, merged."""
        cache = self._cache
        spans: list[tuple[float, float]] = []
        if cache is None:
            return spans
        position = 0
        while position < cache.length:
            start = position
            while start < cache.length and cache.covered_until(start) == start:
                start = (start // cache.page_frames + 1) * cache.page_frames
            if start >= cache.length:
                break
            stop = cache.covered_until(start)
            spans.append((start / SAMPLE_RATE, stop / SAMPLE_RATE))
            position = stop
        return spans

    def quick_spans(self) -> list[tuple[int, int]]:
        return self._cache.quick_spans() if self._cache is not None else []

    def status(self) -> RenderAheadStatus:
        base = super().status()
        fields = {name: getattr(base, name) for name in EngineStatus.__dataclass_fields__}
        if self.mode == MODE_RENDER:
            fields["position"] = self._player_cache.position / SAMPLE_RATE if self._player_cache else 0.0
            lead = self.lead_seconds()
            if fields["playing"] and self._sounding:
                self.leads.append(lead)
        else:
            lead = 0.0
        seeks = min(self._seeks, SEEKS_KEPT)
        return RenderAheadStatus(
            **fields,
            mode=self.mode,
            fallback=self.fallback,
            lead_seconds=lead,
            render_rtf=self.render_rtf(),
            first_sound_ms=self.first_sound_ms,
            seek_ms=[float(v) for v in self._seek_ms[:seeks]],
            cache_mb=self._cache.layout.stem_bytes / 2**20 if self._cache is not None else 0.0,
            rendered=self.rendered_spans() if self.mode == MODE_RENDER else [],
            quick_seconds_played=self.quick_frames_played / SAMPLE_RATE,
        )

    def lead_summary(self) -> tuple[float, float] | None:
        """(min, median) of the lead seen by status() while sound played."""
        return (min(self.leads), statistics.median(self.leads)) if self.leads else None

    def check_health(self) -> None:
        if self.mode == MODE_RENDER:
            if self._render is not None and not self._render.is_alive():
                raise DannaSepError("the render process stopped unexpectedly")
            self._fall_back_if_behind()
        super().check_health()

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
        """Go on with the streaming engine from the playhead: stop the render, start inference."""
        self.fallback = reason
        self._stop_renderer()
        self.control.unsubscribe(self._on_change)
        LiveEngine._start_worker(self)  # the cache plays on while the streaming models load
        self._player.set_loop(self._loop)
        self._player.seek(self._player_cache.wanted / SAMPLE_RATE)
        self._position, self._finished_at = 0, None
        self._state = self.control.state
        self.mode = MODE_STREAM
