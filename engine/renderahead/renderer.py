"""The render process of render-ahead playback: the offline separation path (the same chunk plan,
per-model windows, full Wiener filter and overlap-add as `dannasep separate`) run on the region
the playhead plays next, each model's stems written into the StemCache.

Each model's chunks are overlap-added on their own, so the callback's weighted sum of the cached
stems equals the offline fusion of the same chunks (fusion and overlap-add are both linear). A
seek to audio the cache does not hold interrupts the chunk being rendered: a hook before every
network layer, and a cancellation point in every band of the Wiener filter, check the playhead, so
the render moves within one layer's compute.
"""

import contextlib
import math
import os
import time
import traceback
from dataclasses import dataclass

import numpy as np

from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE, SOURCES
from dannasep.engine.lifeline import Lifeline
from dannasep.engine.renderahead import cache as slots
from dannasep.engine.renderahead.cache import CacheLayout, StemCache
from dannasep.engine.renderahead.schedule import (
    PlanJob,
    QuickJob,
    RenderEstimates,
    Scheduler,
    horizon,
    release_end,
)
from dannasep.engine.renderahead.settings import RenderAheadSettings

ALIGN = 4 * HOP_LENGTH
"""The coarsest time grid a quick chunk's window keeps: the U-Net's own (64 frames) would add up to
1.5 s to its window, more than the quick phase can pay for without the playhead catching up."""


class PlayheadMovedError(Exception):
    """The playhead jumped to audio the cache does not hold: drop the chunk being rendered."""


@dataclass(frozen=True)
class RenderSpec:
    """Everything the render process needs, picklable for a spawned process."""

    cache_path: str
    layout: CacheLayout
    models: tuple[str, ...]
    separator: object
    """A SeparatorConfig (models, size, weights folder, precision, Wiener iterations, threads)."""
    settings: RenderAheadSettings
    nice: int = 0
    lifeline: Lifeline | None = None


class Renderer:
    """Serves render jobs until the audio process sets the STOP word."""

    def __init__(
        self, cache: StemCache, estimators: dict, settings: RenderAheadSettings, quick_rate: float | None = None
    ):
        """quick_rate: compute seconds per sample of a quick chunk's window, all networks together,
        as measured before the first one (None: not measured)."""
        import torch

        from dannasep.engine.dsp.overlap_add import plan_chunks
        from dannasep.engine.separation.runner import ArrayReader, shared_plan

        self._torch = torch
        self.cache = cache
        self.estimators = estimators
        self.settings = settings
        self.reader = ArrayReader(cache.audio.T)
        plan = shared_plan(estimators)
        self.contexts = plan.contexts
        self.chunks = plan_chunks(cache.length, plan.segment, plan.overlap)
        self.estimates = RenderEstimates(quick_rate=quick_rate)
        self.scheduler = Scheduler(
            chunks=self.chunks,
            length=cache.length,
            lead=settings.samples(settings.lead),
            quick=settings.samples(settings.quick),
            quick_growth=settings.quick_growth,
            quick_context=settings.samples(settings.quick_context),
            margin=settings.samples(settings.margin),
            plan_context=max(plan.contexts.values()),
            estimates=self.estimates,
        )
        self._olas: dict = {}
        self.model_index = {arch: i for i, arch in enumerate(estimators)}
        """Each model's place in the cache (and in the callback's weights)."""
        self.model_seconds = dict.fromkeys(estimators, 0.0)
        """Each model's compute seconds on its latest plan chunk (until there is one, on its latest
        quick chunk): the plan renders the cheapest first."""
        self._plan_timed = False
        self._origin = self._released = self._skip_until = 0
        self._job_ends = 0.0
        """perf_counter() time at which the job being rendered is expected to be done."""
        self._seek_seen = int(cache.control[slots.SEEK_ID])
        self._publish_ready_ahead()

    # -- the playhead, as the audio callback publishes it ----------------------------------------------
    def _playhead(self) -> int:
        return int(self.cache.control[slots.PLAYHEAD])

    def _loop(self) -> tuple[int, int] | None:
        start, end = int(self.cache.control[slots.LOOP_START]), int(self.cache.control[slots.LOOP_END])
        return (start, end) if 0 <= start < end else None

    def evict_order(self, page: int) -> float:
        """How little the playhead needs `page`: -inf within the lead (and the page just before the
        playhead), otherwise its distance from the playhead."""
        frames = self.cache.page_frames
        playhead = self._playhead()
        first, last = page * frames, (page + 1) * frames
        if last > playhead - frames and first < playhead + frames:
            return -np.inf
        for start, stop in horizon(playhead, self.scheduler.lead, self.cache.length, self._loop()):
            if first < stop and last > start:
                return -np.inf
        return float(min(abs(first - playhead), abs(last - playhead)))

    def check_moved(self, *_args) -> None:
        """Before every layer: after a seek, abandon the job unless the audio the cache holds from
        the new playhead on plays for longer than the job is expected to go on (plus the margin)."""
        seek = int(self.cache.control[slots.SEEK_ID])
        if seek == self._seek_seen:
            return
        self._seek_seen = seek
        self.scheduler.restart_quick()
        playhead = self._playhead()
        if playhead >= self.cache.length:
            return
        held = self.cache.covered_until(playhead) - playhead
        job_left = max(0.0, self._job_ends - time.perf_counter()) * SAMPLE_RATE
        if held == 0 or held < job_left + self.scheduler.margin:
            raise PlayheadMovedError

    # -- serving -------------------------------------------------------------------------------------
    def serve(self) -> None:
        from dannasep.engine.dsp import cancel

        hook = self._torch.nn.modules.module.register_module_forward_pre_hook(self.check_moved)
        cancel.set_check(self.check_moved)
        try:
            while not self.cache.control[slots.STOP]:
                self.cache.timings[slots.HEARTBEAT] = time.monotonic()
                with contextlib.suppress(PlayheadMovedError):
                    self.check_moved()
                job = self.scheduler.next_job(self.cache.covered_until, self._playhead(), self._loop())
                if job is None:
                    time.sleep(0.01)
                    continue
                self._job_ends = time.perf_counter() + self._expected_seconds(job)
                try:
                    if isinstance(job, QuickJob):
                        self.render_quick(job)
                    else:
                        self.render_plan(job)
                except PlayheadMovedError:
                    self.cache.counters[slots.ABORTS] += 1
                    self.scheduler.abandon_run()
                finally:
                    self._job_ends = 0.0
                    self.cache.keep_resident(0, 0)  # between jobs this process needs none of the file
        finally:
            cancel.set_check(None)
            hook.remove()

    def _publish_ready_ahead(self) -> None:
        """Tell the audio process how much the cache must hold from the playhead before sound
        starts or resumes after a seek: what a quick phase's first chunk takes to render, so that
        the playhead does not run out while it renders."""
        phase = self.scheduler.first_quick()
        seconds = 0.0 if phase is None else self.scheduler.quick_seconds(phase[0])
        self.cache.counters[slots.READY_AHEAD] = round(seconds * SAMPLE_RATE)

    def _expected_seconds(self, job: PlanJob | QuickJob) -> float:
        """The job's compute time by the latest measurements (0 while there are none)."""
        if isinstance(job, PlanJob):
            seconds = self.estimates.seconds(self.scheduler.plan_window(job.index))
            return seconds if math.isfinite(seconds) else 0.0
        return self.scheduler.quick_seconds(job.stop - job.start)

    def _pace(self, began: float, seconds_of_audio: float) -> float:
        """Compute seconds since `began`, after idling as `throttle` asks."""
        if self.settings.throttle > 0:
            time.sleep(self.settings.throttle * seconds_of_audio)
        return time.perf_counter() - began

    def render_plan(self, job: PlanJob) -> None:
        """Renders plan chunk `job.index` model by model, cheapest first, and stores each model's
        final stems as soon as they are done (see the cache's docstring)."""
        from dannasep.engine.dsp.overlap_add import OverlapAdd, crossfade_weights
        from dannasep.engine.separation.runner import chunk_stems

        chunk = self.chunks[job.index]
        if job.first:
            capacity = max(c.length for c in self.chunks)
            self._olas = {arch: OverlapAdd((len(SOURCES), 2), capacity) for arch in self.estimators}
            self._origin = self._released = chunk.start
            self._skip_until = chunk.start + chunk.fade_in  # only later chunks complete the fade-in
        began = time.perf_counter()
        weights = crossfade_weights(chunk.length, chunk.fade_in, chunk.fade_out)
        until = release_end(self.chunks, job.index, self.cache.length)
        start = max(self._released, self._skip_until)
        skip = start - self._released
        audio_seconds = (until - self._released) / SAMPLE_RATE
        stored = until - start
        for arch in sorted(self.estimators, key=self.model_seconds.get):
            model_began = time.perf_counter()
            stems = chunk_stems(self.reader, self.estimators[arch], chunk, self.contexts[arch]).numpy()
            ola = self._olas[arch]
            ola.add(chunk.start - self._origin, stems, weights)
            released = ola.release(until - self._origin)[..., skip:]
            self.model_seconds[arch] = self._pace(model_began, audio_seconds / len(self.estimators))
            self._plan_timed = True
            stored = min(stored, self.cache.write(start, [released], True, self.evict_order, [self.model_index[arch]]))
            if stored < until - start:
                break
        seconds = time.perf_counter() - began
        counters, timings = self.cache.counters, self.cache.timings
        counters[slots.FINAL_FRAMES] += stored
        counters[slots.CHUNKS] += 1
        timings[slots.PLAN_COMPUTE] += seconds
        timings[slots.PLAN_AUDIO] += audio_seconds
        timings[slots.LAST_CHUNK_RTF] = seconds / max(audio_seconds, 1 / SAMPLE_RATE)
        self.estimates.plan_rate = seconds / self.scheduler.plan_window(job.index)
        self._released = until
        if stored < until - start:  # the cache is full of audio the playhead needs first
            self.scheduler.abandon_run()
            time.sleep(0.05)
            return
        self.scheduler.chunk_done(job.index)

    def render_quick(self, job: QuickJob) -> None:
        """Renders a quick chunk for the models not yet final over all of it."""
        from dannasep.engine.separation.runner import chunk_stems

        began = time.perf_counter()
        models = [
            arch
            for arch in self.estimators
            if self.cache.covered_until(job.start, True, job.stop, self.model_index[arch]) < job.stop
        ]
        stems, rate = [], 0.0
        for arch in models:
            model_began = time.perf_counter()
            window, context, statistics = self._as_in_plan(arch, job)
            widened = chunk_stems(self.reader, self.estimators[arch], window, context, statistics)
            stems.append(widened[..., job.start - window.start : job.stop - window.start])
            model_seconds = time.perf_counter() - model_began
            rate += model_seconds / (window.length + 2 * context)  # the networks' windows differ
            if not self._plan_timed:
                self.model_seconds[arch] = model_seconds
        seconds = self._pace(began, (job.stop - job.start) / SAMPLE_RATE)
        indices = [self.model_index[arch] for arch in models]
        stored = self.cache.write(job.start, [x.numpy() for x in stems], False, self.evict_order, indices)
        if stored:
            self.cache.log_quick(job.start, job.start + stored)
        self.cache.counters[slots.QUICK_FRAMES] += stored
        self.cache.counters[slots.QUICK_CHUNKS] += 1
        self.cache.timings[slots.QUICK_COMPUTE] += seconds
        if len(models) == len(self.estimators):
            self.estimates.quick_rate = rate
            self._publish_ready_ahead()
        if stored == 0:
            time.sleep(0.05)

    def _as_in_plan(self, arch: str, job: QuickJob) -> tuple[object, int, object]:
        """The chunk (the job's, widened), context and input statistics that make a quick chunk run
        a network as the offline plan does: the network's window starts on the plan window's time
        grid (STFT frames and strides then see the same sample phases; at most ALIGN samples), at
        the grid step nearest the quick context before the job that leaves at least half of it,
        and ends the quick context after the job, or more where the song's start cuts the context
        before it (the window then costs what it costs mid-song); a network that standardises its
        input gets the plan window's (mean, std)."""
        from dannasep.engine.dsp.overlap_add import Chunk
        from dannasep.engine.renderahead.schedule import chunk_for
        from dannasep.engine.separation.runner import model_window

        model = self.estimators[arch].model
        grid = math.gcd(math.lcm(HOP_LENGTH, model.time_grid_samples()), ALIGN)
        plan_chunk = self.chunks[chunk_for(self.chunks, job.start)]
        edge, minimum = model.min_lookahead_samples(), model.min_input_length()
        start, stop = model_window(plan_chunk, self.contexts[arch], self.cache.length, edge, minimum)
        quick_context = self.scheduler.quick_context
        first = job.start - quick_context
        earlier = later = 0  # a window clipped at the song's start is on the plan's grid already
        if first > 0:
            earlier = (first - start) % grid
            if grid - earlier <= quick_context // 2:
                earlier, later = 0, grid - earlier
        # the chunk grows by what the window's start moves earlier, the context shrinks by what it moves later
        chunk = Chunk(index=-1, start=job.start - earlier, stop=job.stop + later, fade_in=0, fade_out=0)
        context = quick_context - later + min(max(-first, 0), quick_context)
        if not model.normalises_input:
            return chunk, context, None
        mono = self._torch.from_numpy(self.reader.read(start, stop)).mean(0)
        return chunk, context, (mono.mean().view(1, 1, 1), mono.std().view(1, 1, 1))


def _warm_up(estimators: dict, settings: RenderAheadSettings) -> float:
    """Runs every network twice on a quick chunk's window, so that the first real one is not slowed
    by the allocations and kernel choices of a first call; returns the second pass's compute
    seconds per sample of window, all networks together (the schedule sizes quick chunks by it)."""
    import torch

    samples = settings.samples(settings.quick + 2 * settings.quick_context)
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 2, samples), dtype=np.float32) * 0.1)
    rate = 0.0
    for estimator in estimators.values():
        window = noise[..., : max(samples, estimator.model.min_input_length())]
        estimator(window)
        began = time.perf_counter()
        estimator(window)
        rate += (time.perf_counter() - began) / window.shape[-1]
    return rate


def run_renderer(spec: RenderSpec, connection) -> None:
    """Process entry point. Sends ("ready", info) or ("error", message) once, then serves."""
    if spec.lifeline is not None:
        spec.lifeline.hold()
    from dannasep.engine.streaming.worker import SPIN_COUNT

    os.environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))
    with contextlib.suppress(OSError):
        os.nice(spec.nice)
    try:
        import torch

        from dannasep.engine.separation.separator import load_model

        if spec.separator.threads is not None:
            torch.set_num_threads(spec.separator.threads)
        loaded = {arch: load_model(arch, spec.separator) for arch in spec.models}
        estimators = {arch: m.estimator for arch, m in loaded.items()}
        quick_rate = _warm_up(estimators, spec.settings)
        cache = StemCache(spec.cache_path, spec.layout)
        renderer = Renderer(cache, estimators, spec.settings, quick_rate)
        connection.send(
            (
                "ready",
                {
                    "models": {arch: m.provenance for arch, m in loaded.items()},
                    "trained": all(m.trained for m in loaded.values()),
                    "chunks": len(renderer.chunks),
                },
            )
        )
    except Exception as exc:
        connection.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
        return
    renderer.serve()
