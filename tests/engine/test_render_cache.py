"""The render-ahead stem cache and scheduler on their own: pages, ranges, the cap, and which job
comes next (no torch, no audio device)."""

import errno
import gc
import math
import os
from pathlib import Path

import numpy as np
import pytest

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.control.state import EngineState, TransportState
from dannasep.engine.dsp.overlap_add import plan_chunks
from dannasep.engine.errors import DannaSepError
from dannasep.engine.renderahead import cache as slots
from dannasep.engine.renderahead.cache import CACHE_FULL, PREFIX, StemCache
from dannasep.engine.renderahead.callback import SEEKS_KEPT, RenderAheadCallback
from dannasep.engine.renderahead.schedule import (
    PlanJob,
    QuickJob,
    RenderEstimates,
    Scheduler,
    chunk_for,
    horizon,
    quick_phase,
)
from dannasep.engine.streaming.audio_callback import BlockControl, CallbackSetup, ControlSlot

PAGE = 1024
SONG = np.random.default_rng(0).standard_normal((10 * PAGE, 2), dtype=np.float32)


@pytest.fixture
def cache():
    made = StemCache.create(10 * PAGE, models=2, page_frames=PAGE, cache_mb=4 * 2 * PAGE * 8 * 4 / 2**20)
    made.audio[:] = SONG
    yield made
    made.unlink()
    made.close()


def test_a_cache_never_started_leaves_no_file():
    made = StemCache.create(PAGE, models=1, page_frames=PAGE, cache_mb=1)
    path = made.path
    assert path.exists()
    del made
    gc.collect()
    assert not path.exists()


def test_a_cache_file_left_by_a_killed_process_goes_at_the_next_create():
    folder = StemCache.create(PAGE, models=1, page_frames=PAGE, cache_mb=1).path.parent
    dead, alive = folder / f"{PREFIX}{2**31 - 1}-x.cache", folder / f"{PREFIX}{os.getpid()}-x.cache"
    dead.write_bytes(b"0"), alive.write_bytes(b"0")
    StemCache.create(PAGE, models=1, page_frames=PAGE, cache_mb=1)
    assert not dead.exists() and alive.exists()
    alive.unlink()


def test_no_room_for_the_cache_is_a_clear_error_and_leaves_no_file(monkeypatch):
    folder = StemCache.create(PAGE, models=1, page_frames=PAGE, cache_mb=1).path.parent
    gc.collect()
    before = set(folder.iterdir())

    def disk_full(*_args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", disk_full)
    with pytest.raises(DannaSepError, match=r"no room for the render-ahead cache.*DANNASEP_CACHE"):
        StemCache.create(PAGE, models=1, page_frames=PAGE, cache_mb=1)
    assert set(folder.iterdir()) == before


def mapped_kib(cache: StemCache) -> int:
    """This process's resident KiB of the cache file's mapping (/proc/self/smaps)."""
    lines = Path("/proc/self/smaps").read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if str(cache.path) in line]
    assert len(starts) == 1
    rss = next(line for line in lines[starts[0] + 1 :] if line.startswith("Rss:"))
    return int(rss.split()[1])


def test_keep_resident_unmaps_the_rest_and_loses_nothing():
    song = np.random.default_rng(1).standard_normal((64 * PAGE, 2), dtype=np.float32)
    cache = StemCache.create(len(song), models=2, page_frames=PAGE, cache_mb=64)
    cache.audio[:] = song
    for start in range(0, len(song), PAGE):
        cache.write(start, _stems(PAGE, start), final=True, evict_order=keep_all)
    everything = mapped_kib(cache)
    cache.keep_resident(0, 0)
    assert mapped_kib(cache) <= 8 + (cache.layout._audio >> 10)  # header and page tables
    cache.keep_resident(0, 0)
    cache.audio[10 * PAGE : 12 * PAGE].sum(), cache.stems.sum()  # map everything back
    cache.keep_resident(10 * PAGE, 12 * PAGE)
    kept = mapped_kib(cache)
    assert kept < everything / 10
    assert np.array_equal(cache.audio, song)
    out, scratch = np.zeros((PAGE, 4, 2), np.float32), np.zeros((PAGE, 4, 2), np.float32)
    weights = np.ones((2, 4, 1), np.float32)
    assert cache.fuse_into(40 * PAGE, out, weights, scratch) == 2
    assert np.all(out == 3 * 40 * PAGE)
    cache.unlink()


def _stems(n: int, value: float) -> list[np.ndarray]:
    return [np.full((4, 2, n), value, np.float32), np.full((4, 2, n), 2 * value, np.float32)]


def keep_all(_page: int) -> float:
    return -math.inf


def test_written_stems_are_fused_with_the_given_weights(cache):
    assert cache.layout.slots == 4
    other_process_view = StemCache(cache.path, cache.layout)
    assert np.array_equal(other_process_view.audio, SONG)
    assert cache.write(500, _stems(1000, 1.0), final=True, evict_order=keep_all) == 1000
    out, scratch = np.zeros((600, 4, 2), np.float32), np.zeros((600, 4, 2), np.float32)
    weights = np.array([0.25, 0.5, 1.0, 0.0] * 1 + [0.75, 0.5, 0.0, 1.0], np.float32).reshape(2, 4, 1)
    assert cache.fuse_into(700, out, weights, scratch) == 2  # across a page boundary
    assert np.allclose(out[:, :, 0], [0.25 + 1.5, 0.5 + 1.0, 1.0, 2.0])
    assert cache.fuse_into(1400, out, weights, scratch) == 0  # 1500.. holds nothing
    assert cache.covered_until(500) == 1500 and cache.covered_until(0) == 0


def test_quick_stems_never_overwrite_final_ones(cache):
    cache.write(1000, _stems(500, 1.0), final=True, evict_order=keep_all)
    assert cache.write(600, _stems(2000, 5.0), final=False, evict_order=keep_all) == 2000
    assert cache.covered_until(600) == 2600 and cache.covered_until(1000, final=True) == 1500
    out, scratch = np.zeros((100, 4, 2), np.float32), np.zeros((100, 4, 2), np.float32)
    weights = np.ones((2, 4, 1), np.float32)
    assert cache.fuse_into(600, out, weights, scratch) == 1 and np.allclose(out, 15.0)
    assert cache.fuse_into(1100, out, weights, scratch) == 2 and np.allclose(out, 3.0)
    assert cache.fuse_into(1500, out, weights, scratch) == 1 and np.allclose(out, 15.0)


def test_each_model_becomes_final_on_its_own(cache):
    """The plan stores a model's stems as soon as that model is done; until every model is final
    there, a block plays the final stems of some models with the quick ones of the others."""
    first, second = _stems(1000, 1.0)
    cache.write(0, [first * 5, second * 5], final=False, evict_order=keep_all)  # quick: 5 and 10
    cache.write(200, [second], final=True, evict_order=keep_all, models=[1])  # model 1 final: 2
    assert cache.covered_until(200, final=True) == 200
    assert cache.covered_until(200, final=True, model=1) == 1200 and cache.covered_until(0) == 1000
    out, scratch = np.zeros((100, 4, 2), np.float32), np.zeros((100, 4, 2), np.float32)
    weights = np.ones((2, 4, 1), np.float32)
    assert cache.fuse_into(300, out, weights, scratch) == 1 and np.allclose(out, 5.0 + 2.0)
    assert cache.fuse_into(1100, out, weights, scratch) == 0  # model 0 holds nothing from 1000 on
    cache.write(1000, [first * 5], final=False, evict_order=keep_all, models=[0])
    assert cache.spans() == [(0, 1200)] and cache.spans(final=True) == []
    cache.write(200, [first], final=True, evict_order=keep_all, models=[0])
    assert cache.fuse_into(300, out, weights, scratch) == 2 and np.allclose(out, 3.0)
    assert cache.spans(final=True) == [(200, 1200)]


def test_at_the_cap_the_page_needed_last_is_taken_and_needed_pages_never(cache):
    assert cache.write(0, _stems(4 * PAGE, 1.0), final=True, evict_order=keep_all) == 4 * PAGE
    assert cache.write(4 * PAGE, _stems(PAGE, 1.0), final=True, evict_order=keep_all) == 0
    assert cache.counters[CACHE_FULL] == 1
    behind_the_playhead = {0: 3.0, 1: 2.0}  # pages 0 and 1 are far behind; 2, 3 and 4 are needed
    order = lambda page: behind_the_playhead.get(page, -math.inf)  # noqa: E731
    assert cache.write(4 * PAGE, _stems(2 * PAGE, 1.0), final=True, evict_order=order) == 2 * PAGE
    assert cache.covered_until(0) == 0 and cache.covered_until(2 * PAGE) == 6 * PAGE
    assert cache.write(6 * PAGE, _stems(PAGE, 1.0), final=True, evict_order=order) == 0


def _scheduler(length: int, rate: float | None) -> Scheduler:
    chunks = plan_chunks(length, 10 * SAMPLE_RATE, 0.1)
    return Scheduler(
        chunks=chunks,
        length=length,
        lead=20 * SAMPLE_RATE,
        quick=SAMPLE_RATE,
        quick_growth=2.0,
        quick_context=SAMPLE_RATE,
        margin=SAMPLE_RATE,
        plan_context=3 * SAMPLE_RATE,
        estimates=RenderEstimates(plan_rate=rate),
    )


def nothing_rendered(start: int, final: bool = False, stop: int | None = None) -> int:
    return start


def test_play_starts_with_growing_quick_chunks_inside_one_plan_chunk_then_the_plan():
    scheduler = _scheduler(60 * SAMPLE_RATE, None)  # nothing measured yet: the plan's time is unknown
    assert scheduler.next_job(nothing_rendered, 0, None) == QuickJob(0, SAMPLE_RATE)
    covered = {"until": SAMPLE_RATE}

    def rendered(start, final=False, stop=None):
        return start if final or start >= covered["until"] else covered["until"]

    assert scheduler.next_job(rendered, 0, None) == QuickJob(SAMPLE_RATE, 3 * SAMPLE_RATE)
    covered["until"] = 3 * SAMPLE_RATE
    scheduler.estimates.plan_rate = 0.02 / SAMPLE_RATE  # 0.02 s per second of window: the plan keeps ahead
    assert scheduler.next_job(rendered, 0, None) == PlanJob(0, first=True)
    # a quick chunk never crosses into the next plan chunk's part
    far = _scheduler(60 * SAMPLE_RATE, None)
    boundary = far.chunks[1].start + far.chunks[1].fade_in
    job = far.next_job(nothing_rendered, boundary - SAMPLE_RATE // 2, None)
    assert job == QuickJob(boundary - SAMPLE_RATE // 2, boundary)


@pytest.mark.parametrize("per_second", [0.05, 0.2, 0.37, 0.45, 0.7])
def test_the_first_quick_chunk_is_long_enough_for_the_quick_phase_to_stay_ahead(per_second):
    """Simulated quick phase: chunk k (L·g^k) renders in r·(its length + 2c) while chunk k-1 plays,
    and play starts when chunk 0 is rendered."""
    quick, growth, context = SAMPLE_RATE, 2.0, SAMPLE_RATE
    first, growth = quick_phase(quick, growth, context, per_second / SAMPLE_RATE)
    assert first >= quick and growth > 1.0
    lengths = [first * growth**k for k in range(12)]
    rendered_at = np.cumsum([per_second * (length + 2 * context) for length in lengths])
    played_from = rendered_at[0] + np.concatenate([[0.0], np.cumsum(lengths[:-1])])
    assert np.all(rendered_at <= played_from + 1e-9)
    if per_second < 0.2:  # a fast machine keeps the short first chunk and the growth
        assert (first, growth) == (quick, 2.0)
    scheduler = _scheduler(120 * SAMPLE_RATE, None)
    scheduler.estimates.quick_rate = per_second / SAMPLE_RATE
    boundary = scheduler.chunks[1].start + scheduler.chunks[1].fade_in  # quick chunks stay in one plan chunk's part
    assert scheduler.next_job(nothing_rendered, 0, None) == QuickJob(0, min(first, boundary))


def test_where_no_quick_phase_keeps_up_the_plan_chunk_comes_first():
    scheduler = _scheduler(120 * SAMPLE_RATE, None)
    scheduler.estimates.quick_rate = 0.78 / SAMPLE_RATE  # even the least growth leaves no slack
    assert quick_phase(SAMPLE_RATE, 2.0, SAMPLE_RATE, scheduler.estimates.quick_rate) is None
    assert scheduler.next_job(nothing_rendered, 30 * SAMPLE_RATE, None) == PlanJob(
        chunk_for(scheduler.chunks, 30 * SAMPLE_RATE), True
    )


def test_the_plan_run_starts_at_the_chunk_that_makes_the_playhead_final_and_loops_wrap():
    scheduler = _scheduler(60 * SAMPLE_RATE, 0.001 / SAMPLE_RATE)
    chunks = scheduler.chunks
    assert chunk_for(chunks, chunks[1].start) == 0 and chunk_for(chunks, chunks[1].start + chunks[1].fade_in) == 1
    playhead = 30 * SAMPLE_RATE

    def quick_ahead(start, final=False, stop=None):  # quick chunks hold 15 s from the playhead on
        return start if final or not playhead <= start < playhead + 15 * SAMPLE_RATE else playhead + 15 * SAMPLE_RATE

    assert scheduler.next_job(quick_ahead, playhead, None) == PlanJob(chunk_for(chunks, playhead), True)
    assert horizon(5, 20, 100, (0, 10)) == [(5, 10), (0, 10)]
    assert horizon(5, 3, 100, (0, 10)) == [(5, 8)]
    assert horizon(50, 20, 60, None) == [(50, 60)]


def test_spans_merge_across_pages_and_tell_final_from_quick(cache):
    assert cache.spans() == [] and cache.spans(final=True) == []
    cache.write(500, _stems(1500, 1.0), final=True, evict_order=keep_all)  # pages 0 and 1
    cache.write(2048 + 100, _stems(300, 1.0), final=False, evict_order=keep_all)  # inside page 2
    cache.write(2048 + 400, _stems(1000, 1.0), final=True, evict_order=keep_all)  # pages 2 and 3
    assert cache.spans() == [(500, 2000), (2148, 3448)]
    assert cache.spans(final=True) == [(500, 2000), (2448, 3448)]


def test_the_lead_record_gives_min_and_median_in_constant_memory():
    from dannasep.engine.renderahead.engine import LeadRecord

    record = LeadRecord()
    assert record.summary() is None
    for lead in (3.0, 1.25, 7.5, 2.0, 900.0):  # a lead past the last bin still counts
        record.add(lead)
    low, median = record.summary()
    assert low == 1.25 and median == pytest.approx(3.0)
    size = record._counts.nbytes
    for _ in range(10_000):
        record.add(5.0)
    assert record._counts.nbytes == size and record.summary()[1] == pytest.approx(5.0)


def _render_callback(cache: StemCache, state: EngineState) -> RenderAheadCallback:
    setup = CallbackSetup(None, (), latency=0, audio=cache.audio, multichannel=False, recorder=None)
    weights = ControlSlot(np.full((2, 4, 1), 0.5, np.float32))
    return RenderAheadCallback(setup, ControlSlot(BlockControl.of(state)), cache, weights, np.zeros(SEEKS_KEPT))


def test_sound_waits_until_the_cache_holds_what_the_renderer_needs_to_stay_ahead(cache):
    """Driven block by block with no clock: what plays and what counts as an under-run follow from
    what the cache holds alone, so the counts below are exact on any machine."""
    callback = _render_callback(cache, EngineState())
    out = np.zeros((256, 2), np.float32)
    cache.counters[slots.READY_AHEAD] = 2000
    cache.write(0, _stems(1000, 1.0), final=False, evict_order=keep_all)
    callback.block(None, out, 256, False)
    assert not callback.sounding and callback.position == 0 and not out.any()  # 1000 held, 2000 needed
    cache.write(1000, _stems(1000, 1.0), final=False, evict_order=keep_all)
    for _ in range(7):  # 1792 frames: sound starts, then plays what is held
        callback.block(None, out, 256, False)
    assert callback.sounding and callback.underruns == 0 and out.any()
    callback.block(None, out, 256, False)  # 2048 > 2000 held: a block missing after sound started
    assert callback.underruns == 1
    end = cache.length - 500  # by the song's end less than READY_AHEAD is enough
    cache.write(end, _stems(500, 1.0), final=True, evict_order=keep_all)
    seek = EngineState(transport=TransportState(seek_id=1, seek_to=end / SAMPLE_RATE))
    callback.slot.publish(BlockControl.of(seek))
    callback.block(None, out, 256, False)
    assert callback.sounding and callback.seeks == 1 and out.any()
