"""The per-model stem cache of render-ahead playback: one memory-mapped temporary file shared by
the audio process (which creates it and reads it in the audio callback) and the render process
(which writes it).

The song is cut into pages of `page_frames` samples; the file holds a fixed number of page slots,
as many as `cache_mb` allows (all the song's pages when it fits). Each slot holds every model's
four stereo stems for one page. Per page and model, two ranges say which samples hold data: `any`
(a quick chunk or the offline plan) and `final` (the offline plan). Models become final one by
one, each as soon as its own plan chunk is done, so the cheaper networks' offline stems replace
their quick ones while the costliest network still renders. A sample is playable when every model
holds data there, and final when every model's data is final. A range is one int64 packing
(lo << 32) | hi, so a reader sees it change in one store; data is written before its range.

At the cap, the renderer takes the slot of the page the playhead needs last (pages behind it,
farthest first; the playhead's own neighbourhood and the lead ahead are never taken), so the cache
keeps the lead and as much of what was played as fits; a page taken back is rendered again if the
playhead returns to it. A cap smaller than the lead shortens the lead.

The file lives in the user's cache folder, on disk, and each process keeps mapped only what it
works on (`keep_resident`): the renderer nothing between jobs, the audio process the neighbourhood
of the playhead. The rest is the kernel's page cache of the file, which it writes out and reclaims
when memory is short, as it does for the input file the offline path reads.

File layout: a header (control words from the audio process, statistics from the renderer, a log
of quick chunks), the page tables, the song as (length, 2) float32, then
(slots, models, page_frames, 4, 2) float32 stems.
"""

import mmap
import os
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dannasep.engine.constants import SOURCES
from dannasep.engine.errors import DannaSepError
from dannasep.engine.paths import user_cache_dir

# control words, written by the audio process
PLAYHEAD, SEEK_ID, LOOP_START, LOOP_END, STOP, PLAYING = range(6)
# counters, written by the renderer; READY_AHEAD: frames the cache must hold from the playhead
# before sound starts or resumes after a seek
FINAL_FRAMES, QUICK_FRAMES, ABORTS, EVICTIONS, CHUNKS, QUICK_CHUNKS, CACHE_FULL, QUICK_LOGGED, READY_AHEAD = range(9)
# timings in seconds, written by the renderer
PLAN_COMPUTE, PLAN_AUDIO, QUICK_COMPUTE, LAST_CHUNK_RTF, HEARTBEAT = range(5)
WORDS = 16
QUICK_LOG = 256
HEADER_BYTES = 8 * (3 * WORDS + 2 * QUICK_LOG)
ALIGN = 4096
LOW_BITS = (1 << 32) - 1
PREFIX = "dannasep-stems-"


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def remove_orphans(folder: Path) -> None:
    """Delete cache files whose creating process no longer runs (it was killed before unlinking)."""
    for path in folder.glob(f"{PREFIX}*.cache"):
        pid = path.name[len(PREFIX) :].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            path.unlink(missing_ok=True)


def logged_spans(log: np.ndarray, count: int) -> list[tuple[int, int]]:
    """The spans a ring `log` ((kept, 2) int64) holds once `count` were logged into it, oldest first."""
    kept = log.shape[0]
    return [(int(log[i % kept, 0]), int(log[i % kept, 1])) for i in range(max(0, count - kept), count)]


def pack(lo: int, hi: int) -> int:
    return (lo << 32) | hi


def unpack(value: int) -> tuple[int, int]:
    return value >> 32, value & LOW_BITS


@dataclass(frozen=True)
class CacheLayout:
    """Sizes of a cache file; picklable, so the render process can map the same file."""

    length: int
    models: int
    page_frames: int
    slots: int

    @classmethod
    def for_song(cls, length: int, models: int, page_frames: int, cache_mb: float) -> "CacheLayout":
        pages = -(-length // page_frames)
        page_bytes = models * page_frames * len(SOURCES) * 2 * 4
        slots = max(1, min(pages, int(cache_mb * 2**20) // page_bytes))
        return cls(length, models, page_frames, slots)

    @property
    def pages(self) -> int:
        return -(-self.length // self.page_frames)

    @property
    def stem_bytes(self) -> int:
        return self.slots * self.slot_bytes

    @property
    def slot_bytes(self) -> int:
        return self.models * self.page_frames * len(SOURCES) * 2 * 4

    @property
    def _tables(self) -> int:
        return _aligned(HEADER_BYTES)

    @property
    def _audio(self) -> int:
        return _aligned(self._tables + 8 * ((2 * self.models + 1) * self.pages + self.slots))

    @property
    def _stems(self) -> int:
        return _aligned(self._audio + 2 * self.length * 4)

    @property
    def file_bytes(self) -> int:
        return self._stems + self.stem_bytes


class StemCache:
    """Views on a mapped cache file. See the module docstring."""

    def __init__(self, path: Path, layout: CacheLayout, create: bool = False):
        self.path = Path(path)
        self.layout = layout
        self.page_frames = layout.page_frames
        self.length = layout.length
        size = layout.file_bytes
        with open(self.path, "r+b") as handle:
            self._map = mmap.mmap(handle.fileno(), size)
        buf = np.frombuffer(self._map, dtype=np.uint8)  # plain arrays: the callback indexes them every block
        self.control = buf[: 8 * WORDS].view(np.int64)
        self.counters = buf[8 * WORDS : 16 * WORDS].view(np.int64)
        self.timings = buf[16 * WORDS : 24 * WORDS].view(np.float64)
        self.quick_log = buf[24 * WORDS : 24 * WORDS + 16 * QUICK_LOG].view(np.int64).reshape(QUICK_LOG, 2)
        p, m = layout.pages, layout.models
        tables = buf[layout._tables : layout._tables + 8 * ((2 * m + 1) * p + layout.slots)].view(np.int64)
        self.page_slot = tables[:p]
        self.any_range = tables[p : (m + 1) * p].reshape(m, p)
        """(models, pages) packed ranges of samples holding data."""
        self.final_range = tables[(m + 1) * p : (2 * m + 1) * p].reshape(m, p)
        """(models, pages) packed ranges of samples holding final data."""
        self.slot_page = tables[(2 * m + 1) * p :]
        self.audio = buf[layout._audio : layout._audio + 8 * layout.length].view(np.float32).reshape(layout.length, 2)
        """(length, 2) the song, float32: the audio process decodes the file into it, the render reads it."""
        self.stems = (
            buf[layout._stems :]
            .view(np.float32)
            .reshape(layout.slots, layout.models, layout.page_frames, len(SOURCES), 2)
        )
        """(slots, models, page_frames, 4, 2) float32."""
        if create:
            self.page_slot[:] = -1
            self.slot_page[:] = -1
            self.control[LOOP_START] = self.control[LOOP_END] = -1

    @classmethod
    def create(cls, length: int, models: int, page_frames: int, cache_mb: float) -> "StemCache":
        """A new cache file for a song of `length` frames in the user's cache folder (its render/
        folder); the song goes into `audio`. The file's name goes when the object does, if `unlink`
        has not removed it; files left by a process that was killed go at the next create."""
        layout = CacheLayout.for_song(length, models, page_frames, cache_mb)
        folder = user_cache_dir() / "render"
        folder.mkdir(parents=True, exist_ok=True)
        remove_orphans(folder)
        handle, name = tempfile.mkstemp(prefix=f"{PREFIX}{os.getpid()}-", suffix=".cache", dir=folder)
        try:
            os.posix_fallocate(handle, 0, layout.file_bytes)  # a full disk is an error now, not a SIGBUS later
        except OSError as exc:
            os.unlink(name)
            raise DannaSepError(
                f"no room for the render-ahead cache: it needs {layout.file_bytes / 2**20:.0f} MB in {folder} "
                f"({exc.strerror}); free some space, point DANNASEP_CACHE at a folder with room, or lower --cache-mb"
            ) from exc
        finally:
            os.close(handle)
        cache = cls(Path(name), layout, create=True)
        weakref.finalize(cache, cache.path.unlink, True)
        return cache

    def unlink(self) -> None:
        """Remove the file's name; the mappings stay valid until closed."""
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Drop this object's views; the mapping ends with the last view anyone holds."""
        for name in ("control", "counters", "timings", "quick_log", "page_slot", "any_range", "final_range"):
            setattr(self, name, None)
        self.slot_page = self.audio = self.stems = self._map = None

    # -- what this process keeps mapped -----------------------------------------------------------
    def keep_resident(self, start: int, stop: int) -> None:
        """Unmap from this process the song's and the stems' memory pages outside samples
        [start, stop) (pass 0, 0 for all). Their data stays in the file; a later read maps it back."""
        layout, pages = self.layout, mmap.PAGESIZE
        audio = layout._audio
        start, stop = min(max(start, 0), self.length), min(max(stop, start, 0), self.length)
        spans = [(audio, audio + 8 * start), (audio + 8 * stop, audio + 8 * self.length)]
        slot_page = np.array(self.slot_page)
        first, last = slot_page * self.page_frames, (slot_page + 1) * self.page_frames
        dropped = (slot_page < 0) | (last <= start) | (first >= stop)
        spans += [
            (layout._stems + s * layout.slot_bytes, layout._stems + (s + 1) * layout.slot_bytes)
            for s in np.flatnonzero(dropped)
        ]
        for lo, hi in spans:
            lo, hi = -(-lo // pages) * pages, hi // pages * pages  # whole pages inside the span
            if hi > lo:
                self._map.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    # -- which samples hold data -------------------------------------------------------------------
    def covered_until(self, start: int, final: bool = False, stop: int | None = None, model: int | None = None) -> int:
        """The first sample at or after `start` (up to `stop`, default the song's end) where some
        model (only `model`, if given) holds no data (no final data when `final`)."""
        table = self.final_range if final else self.any_range
        stop = self.length if stop is None else min(stop, self.length)
        models = range(self.layout.models) if model is None else (model,)
        return min(self._covered_until(table[m], start, stop) for m in models)

    def _covered_until(self, ranges: np.ndarray, start: int, stop: int) -> int:
        pos = start
        while pos < stop:
            page, offset = divmod(pos, self.page_frames)
            lo, hi = unpack(int(ranges[page]))
            if not lo <= offset < hi:
                return pos
            pos = page * self.page_frames + hi
        return min(pos, stop) if start < stop else start

    def spans(self, final: bool = False) -> list[tuple[int, int]]:
        """Song spans [start, stop) that hold data (final data when `final`), merged, in order."""
        ranges = np.array(self.final_range if final else self.any_range)  # one copy: the renderer writes on
        lo, hi = (ranges >> 32).max(axis=0), (ranges & LOW_BITS).min(axis=0)  # where every model holds data
        pages = np.flatnonzero(hi > lo)
        if not pages.size:
            return []
        starts = pages * self.page_frames + lo[pages]
        stops = np.minimum(pages * self.page_frames + hi[pages], self.length)
        joined = starts[1:] == stops[:-1]
        firsts, lasts = np.r_[True, ~joined], np.r_[~joined, True]
        return list(zip(starts[firsts].tolist(), stops[lasts].tolist(), strict=True))

    # -- the renderer's side ---------------------------------------------------------------------
    def write(
        self,
        start: int,
        stems: list[np.ndarray],
        final: bool,
        evict_order: Callable[[int], float],
        models: list[int] | None = None,
    ) -> int:
        """Store stems[i], (4, 2, n), as model models[i]'s (default: every model, in order) at song
        position `start`; quick stems (not `final`) go only where that model holds no final data.
        Returns how many samples were stored (fewer when the cache is full of pages that must stay).

        evict_order(page) -> how little the playhead needs that page: the page with the largest
        value is taken first, never one valued -inf, nor one needed sooner than `page` itself."""
        models = list(range(len(stems))) if models is None else models
        n = min(stems[0].shape[-1], self.length - start)
        done = 0
        while done < n:
            page, offset = divmod(start + done, self.page_frames)
            k = min(n - done, self.page_frames - offset)
            slot = self._slot_for(page, evict_order)
            if slot < 0:
                self.counters[CACHE_FULL] += 1
                break
            for model, model_stems in zip(models, stems, strict=True):
                parts = [(offset, offset + k)] if final else self._outside_final(model, page, offset, offset + k)
                for lo, hi in parts:
                    source = model_stems[..., done + lo - offset : done + hi - offset]
                    self.stems[slot, model, lo:hi] = np.moveaxis(source, -1, 0)
                    self._extend(self.any_range[model], page, lo, hi)
                    if final:
                        self._extend(self.final_range[model], page, lo, hi)
            done += k
        return done

    def _outside_final(self, model: int, page: int, lo: int, hi: int) -> list[tuple[int, int]]:
        """The parts of page offsets [lo, hi) where `model` holds no final data."""
        final_lo, final_hi = unpack(int(self.final_range[model, page]))
        if final_hi <= final_lo or final_hi <= lo or final_lo >= hi:
            return [(lo, hi)]
        return [(a, b) for a, b in ((lo, final_lo), (final_hi, hi)) if b > a]

    @staticmethod
    def _extend(ranges: np.ndarray, page: int, lo: int, hi: int) -> None:
        old_lo, old_hi = unpack(int(ranges[page]))
        if old_hi > old_lo and lo <= old_hi and hi >= old_lo:
            lo, hi = min(lo, old_lo), max(hi, old_hi)
        ranges[page] = pack(lo, hi)

    def _slot_for(self, page: int, evict_order: Callable[[int], float]) -> int:
        slot = int(self.page_slot[page])
        if slot >= 0:
            return slot
        free = np.flatnonzero(self.slot_page < 0)
        if free.size:
            slot = int(free[0])
        else:
            orders = [evict_order(int(p)) for p in self.slot_page]
            slot = int(np.argmax(orders))
            if not np.isfinite(orders[slot]) or orders[slot] <= evict_order(page):
                return -1
            old = int(self.slot_page[slot])
            # forget the old page before its slot is reused: ranges first, then the mapping
            self.any_range[:, old] = 0
            self.final_range[:, old] = 0
            self.page_slot[old] = -1
            self.counters[EVICTIONS] += 1
        self.slot_page[slot] = page
        self.page_slot[page] = slot
        return slot

    def log_quick(self, start: int, stop: int) -> None:
        count = int(self.counters[QUICK_LOGGED])
        self.quick_log[count % QUICK_LOG] = (start, stop)
        self.counters[QUICK_LOGGED] = count + 1

    def quick_spans(self) -> list[tuple[int, int]]:
        """Song spans [start, stop) rendered by quick chunks (the latest QUICK_LOG)."""
        return logged_spans(self.quick_log, int(self.counters[QUICK_LOGGED]))

    # -- the audio callback's side ----------------------------------------------------------------
    def fuse_into(self, start: int, out: np.ndarray, weights: np.ndarray, scratch: np.ndarray) -> int:
        """out (n, 4, 2) = Σ_models weights[m] · stems[m] over song samples [start, start + n);
        weights: (models, 4, 1). No allocation of buffers. Returns 2 if every model's samples were
        final, 1 if some were quick, 0 (out undefined) if some model held no data. Samples past the
        song's end are 0."""
        n = out.shape[0]
        quality = 2
        done = 0
        while done < n:
            pos = start + done
            if pos >= self.length:
                out[done:] = 0.0
                break
            page, offset = divmod(pos, self.page_frames)
            k = min(n - done, self.page_frames - offset, self.length - pos)
            for m in range(self.layout.models):  # ranges before the slot: an eviction clears them first
                lo, hi = unpack(int(self.any_range[m, page]))
                if not (lo <= offset and offset + k <= hi):
                    return 0
                final_lo, final_hi = unpack(int(self.final_range[m, page]))
                if not (final_lo <= offset and offset + k <= final_hi):
                    quality = 1
            slot = int(self.page_slot[page])
            if slot < 0:
                return 0
            models = self.stems[slot]
            target, tmp = out[done : done + k], scratch[:k]
            np.multiply(models[0, offset : offset + k], weights[0], out=target)
            for m in range(1, models.shape[0]):
                np.multiply(models[m, offset : offset + k], weights[m], out=tmp)
                np.add(target, tmp, out=target)
            done += k
        return quality
