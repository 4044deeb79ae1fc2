"""What the renderer does next: pure decisions on song positions, no torch.

The offline plan (the chunks `dannasep separate` uses for the whole song) is the target: a *plan
run* renders consecutive chunks from the one that first makes the needed sample final, and each
chunk makes final everything before the next chunk's start. Its first chunk is long (10-30 s of
audio plus context), so after a start or a seek into audio not yet rendered, *quick chunks* come
first: short, with a little real context on both sides, each `quick_growth` times longer than the
one before, until the plan run can take over without the playhead catching up with it. The plan
then renders the same samples again, and its final stems replace the quick ones in the cache.

Sound starts when the first quick chunk is in the cache, so the quick phase must then stay ahead
of the playhead on its own: while chunk k plays (L seconds), chunk k+1 (g·L seconds plus the
context on both sides, 2c) is rendered at r compute seconds per second of window. That holds for
every k when the first chunk is at least 2rc / (1 - g·r) long, so the first chunk is `quick` or
that long, whichever is longer, and g is lowered where g·r would leave little slack; on a machine
where no quick phase keeps up (g·r near 1 even at the least growth), the plan chunk comes first
and the playhead waits for it.

Positions the playhead visits next (the horizon): from the playhead up to `lead` ahead; inside a
loop, to the loop's end and on from its start.
"""

from dataclasses import dataclass

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.dsp.overlap_add import Chunk


@dataclass(frozen=True)
class PlanJob:
    """Render plan chunk `index`; `first` when it starts a new run (nothing before it is carried)."""

    index: int
    first: bool


@dataclass(frozen=True)
class QuickJob:
    """Render song samples [start, stop) with real audio on each side (the scheduler's `quick_context`)."""

    start: int
    stop: int


@dataclass
class RenderEstimates:
    """Measured compute seconds per sample of model window, all models together (None: unknown)."""

    plan_rate: float | None = None
    quick_rate: float | None = None

    def seconds(self, window: int) -> float:
        rate = self.plan_rate if self.plan_rate is not None else self.quick_rate
        return float("inf") if rate is None else rate * window


QUICK_LOAD = 0.6
"""The most of real time the quick phase plans to spend rendering the next chunk (g·r): the rest
is slack for a rate that grows with the window and for first calls on a new window shape."""
LEAST_GROWTH = 1.25
"""Quick chunks grow at least this much, so that the quick phase builds a lead for the plan."""
QUICK_SAFETY = 1.25
"""How much longer than the bound the first quick chunk is made."""
LEAST_SLACK = 0.05
"""Below this 1 - g·r, the first quick chunk would be longer than a plan chunk is worth waiting for."""


def quick_phase(quick: int, growth: float, context: int, rate: float | None) -> tuple[int, float] | None:
    """(samples of the first quick chunk after a start or a seek, growth from chunk to chunk): see
    the module docstring; None when no quick phase keeps up. growth is lowered where the rate
    leaves too little slack. rate: compute seconds per sample of window (None: not measured)."""
    if rate is None:
        return quick, growth
    per_second = rate * SAMPLE_RATE
    growth = max(LEAST_GROWTH, min(growth, QUICK_LOAD / per_second))
    slack = 1.0 - growth * per_second
    if slack < LEAST_SLACK:
        return None
    return max(quick, round(QUICK_SAFETY * 2.0 * per_second * context / slack)), growth


def horizon(playhead: int, lead: int, length: int, loop: tuple[int, int] | None) -> list[tuple[int, int]]:
    """Song spans [start, stop) the playhead plays next, in order, `lead` samples in all."""
    if loop is not None and loop[0] <= playhead < loop[1]:
        start, end = loop
        first = (playhead, min(end, playhead + lead))
        rest = lead - (first[1] - first[0])
        return [first, (start, min(end, start + rest))] if rest > 0 else [first]
    return [(playhead, min(length, playhead + lead))]


def ahead(spans: list[tuple[int, int]], position: int) -> int:
    """How many samples the playhead plays before it reaches `position` (a sample of `spans`)."""
    played = 0
    for start, stop in spans:
        if start <= position < stop:
            return played + position - start
        played += stop - start
    return played


def chunk_for(chunks: list[Chunk], position: int) -> int:
    """The plan chunk a run must start at so that `position` becomes final: the last chunk whose
    cross-faded start lies at or before it."""
    index = 0
    for chunk in chunks:
        if chunk.start + chunk.fade_in <= position:
            index = chunk.index
    return index


def release_end(chunks: list[Chunk], index: int, length: int) -> int:
    """Everything before this is final once chunk `index` (and those before it) are rendered."""
    return chunks[index + 1].start if index + 1 < len(chunks) else length


@dataclass
class Scheduler:
    """Decides the next job from the playhead and what the cache holds; see the module docstring.

    covered_until(start, final, stop) answers from the cache: the first sample at or after start
    without data (without final data)."""

    chunks: list[Chunk]
    length: int
    lead: int
    quick: int
    quick_growth: float
    quick_context: int
    margin: int
    plan_context: int
    estimates: RenderEstimates
    run_next: int | None = None
    """The chunk the current plan run renders next (None: no run)."""
    run_released: int = 0
    quick_size: int = 0
    phase_growth: float = 2.0
    """The current quick phase's growth (see quick_phase)."""

    def first_quick(self) -> tuple[int, float] | None:
        """`quick_phase` for this song's settings and the latest quick rate."""
        return quick_phase(self.quick, self.quick_growth, self.quick_context, self.estimates.quick_rate)

    def quick_seconds(self, length: int) -> float:
        """Compute seconds of a quick chunk `length` samples long, by the latest rate (0 while unmeasured)."""
        rate = self.estimates.quick_rate
        return 0.0 if rate is None else rate * (length + 2 * self.quick_context)

    def restart_quick(self) -> None:
        self.quick_size = 0

    def first_missing(self, covered_until, spans, final: bool) -> int | None:
        for start, stop in spans:
            at = covered_until(start, final, stop)
            if at < stop:
                return at
        return None

    def plan_window(self, index: int) -> int:
        chunk = self.chunks[index]
        return chunk.length + 2 * self.plan_context

    def next_job(self, covered_until, playhead: int, loop: tuple[int, int] | None) -> PlanJob | QuickJob | None:
        spans = horizon(playhead, self.lead, self.length, loop)
        need = self.first_missing(covered_until, spans, final=True)
        if need is None:
            return None
        index = self._continuing(need)
        first = index is None
        if first:
            index = chunk_for(self.chunks, need)
        if ahead(spans, need) > self.lead // 2 or self._plan_keeps_ahead(covered_until, index, playhead):
            return PlanJob(index, first)
        gap = self.first_missing(covered_until, spans, final=False)
        if gap is None:
            return PlanJob(index, first)
        if self.quick_size == 0:
            phase = self.first_quick()
            if phase is None:
                return PlanJob(index, first)
            size, self.phase_growth = phase
        else:
            size = round(self.quick_size * self.phase_growth)
        self.quick_size = size
        stop = min(gap + size, next(stop for start, stop in spans if start <= gap < stop))
        # a quick chunk imitates one plan chunk (its window grid and statistics), so it stays in that chunk's part
        following = chunk_for(self.chunks, gap) + 1
        if following < len(self.chunks):
            stop = min(stop, self.chunks[following].start + self.chunks[following].fade_in)
        return QuickJob(gap, min(stop, self.length))

    def _continuing(self, need: int) -> int | None:
        k = self.run_next
        if k is None or k >= len(self.chunks):
            return None
        if self.run_released <= need < release_end(self.chunks, k, self.length):
            return k
        return None

    def _plan_keeps_ahead(self, covered_until, index: int, playhead: int) -> bool:
        """Whether the playhead stays `margin` short of what is covered while chunk `index` renders,
        and still has one more chunk's compute time in hand when it is done."""
        this = self.estimates.seconds(self.plan_window(index)) * SAMPLE_RATE
        following = self.estimates.seconds(self.plan_window(min(index + 1, len(self.chunks) - 1))) * SAMPLE_RATE
        covered = covered_until(playhead, False, None)
        if covered < self.length and covered < playhead + this + self.margin:
            return False
        after = max(covered, release_end(self.chunks, index, self.length))
        return after >= self.length or after >= playhead + this + following + self.margin

    def chunk_done(self, index: int) -> None:
        self.run_next = index + 1
        self.run_released = release_end(self.chunks, index, self.length)
        self.quick_size = 0

    def abandon_run(self) -> None:
        self.run_next = None
