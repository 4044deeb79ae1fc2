"""Sliding-window separation of a stream, one hop at a time (pure computation, no audio I/O).

Input arrives in blocks of any size. Hop k covers input samples [kH, (k+1)H). Each model m sees a
window of L_m past samples, the hop, and A_m look-ahead samples, so it can compute hop k once
input has reached (k+1)H + A_m. All models are computed together when the slowest can be, at
(k+1)H + A_max, each on its own window ending at (k+1)H + A_m: their outputs cover the same hop
and need no further alignment. The dry signal of the hop is the input itself.

Consecutive hops come from different windows, so each hop is computed X samples further than it
is kept and the next hop cross-fades over that overlap. Fusion weights are read at every hop
start; a change therefore lands at a hop boundary inside that cross-fade, without a click.

Every window length, context and hop is a whole number of STFT frames, so the frames of
successive windows line up and the causal Wiener filter sees each frame as new exactly once.
A network that standardises its input (Demucs) gets the stream's long-term mean and std rather
than its window's own (see input_statistics).
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE, SOURCES
from dannasep.engine.dsp.causal_wiener import CausalWiener, CausalWienerSettings
from dannasep.engine.fusion.weights import Weights, normalise_weights
from dannasep.engine.separation.estimators import StemEstimator
from dannasep.engine.streaming.input_statistics import RunningInputStatistics
from dannasep.engine.streaming.timing import LiveTiming


@dataclass(frozen=True)
class StreamSettings:
    """timing: hop, cross-fade and the models' windows; wiener: the causal filter."""

    timing: LiveTiming = field(default_factory=LiveTiming)
    wiener: CausalWienerSettings = field(default_factory=CausalWienerSettings)
    statistics_seconds: float = 20.0
    """Time constant of the input statistics given to networks that standardise their input (the
    live Demucs' offline chunks are 20 s)."""


@dataclass(frozen=True)
class Hop:
    """One finished hop: stems (4, 2, H) and the dry input (2, H), both float32, for input
    samples [index·H, (index + 1)·H)."""

    index: int
    stems: np.ndarray
    dry: np.ndarray


class StreamProcessor:
    """Turns pushed input blocks into hops of fused stems.

    Args:
        estimators: the models this processor runs (each window from `settings.timing.window`).
        weights: called at every hop start; model -> 4 raw source weights.
        models: every model whose weights share each source: these, and those other processes
            run (default: the estimators).
    """

    def __init__(
        self,
        estimators: Mapping[str, StemEstimator],
        weights: Callable[[], Weights],
        settings: StreamSettings | None = None,
        models: tuple[str, ...] | None = None,
    ):
        self.estimators = dict(estimators)
        self.models = tuple(models) if models is not None else tuple(self.estimators)
        self.weights = weights
        self.settings = settings or StreamSettings()
        self.timing = self.settings.timing
        self.windows = {a: self.timing.window(e.model) for a, e in self.estimators.items()}
        self.context = {a: w.context for a, w in self.windows.items()}
        self.lookahead = {a: w.lookahead for a, w in self.windows.items()}
        self.max_lookahead = max(self.lookahead.values(), default=0)
        # history ends at the newest input sample; it holds the longest window plus the look-ahead offsets
        hop = self.timing.hop
        self._history_length = max((self.context[a] + hop + self.max_lookahead for a in self.estimators), default=hop)
        self._filters = {
            a: CausalWiener(self.settings.wiener)
            for a, e in self.estimators.items()
            if e.model.input_domain == "magnitude"
        }
        self._statistics = RunningInputStatistics(self.settings.statistics_seconds, SAMPLE_RATE)
        self.dropped: set[str] = set()
        """Models no longer run, here or elsewhere (the live worker drops one when inference falls
        behind)."""
        self.compute_seconds: dict[str, float] = {}
        """Each model's compute time in its latest hop."""
        self.reset()

    @property
    def algorithmic_latency(self) -> int:
        """Samples from an input sample to the moment its hop can be computed, worst case (H + A)."""
        return self.timing.hop + self.max_lookahead

    def reset(self) -> None:
        """Forget the stream (silence before the next input)."""
        self._history = np.zeros((2, self._history_length), dtype=np.float32)
        # input samples since the last computed hop; the first hop also waits for the look-ahead
        self._pending = -self.max_lookahead
        self._next_hop = 0
        self._tail: np.ndarray | None = None
        self._unmeasured = 0  # newest input samples not yet in the statistics
        self._statistics.reset()
        for f in self._filters.values():
            f.reset()

    def exercise(self) -> None:
        """Run each network once on a window of noise of its live shape, touching no state of the
        stream: keeps caches and threads warm while no input comes (a first hop after seconds of
        idle is slow)."""
        statistics = self._statistics.current()
        noise = np.random.default_rng(0).standard_normal((2, self._history_length)).astype(np.float32)
        for arch, estimator in self.estimators.items():
            if arch in self.dropped:
                continue
            length = self.context[arch] + self.timing.hop + self.lookahead[arch]
            estimator(torch.from_numpy(0.1 * noise[None, :, :length]), statistics)

    def push(self, block: np.ndarray) -> list[Hop]:
        """Append (2, n) input; returns the hops that became computable, in order."""
        hops = []
        hop = self.timing.hop
        position = 0
        n = block.shape[1]
        while position < n:
            take = min(n - position, hop - self._pending)
            self._history = np.roll(self._history, -take, axis=1)
            self._history[:, -take:] = block[:, position : position + take]
            self._pending += take
            self._unmeasured += take
            position += take
            if self._pending == hop:
                hops.append(self._compute())
                self._pending = 0
        return hops

    def _window(self, arch: str) -> np.ndarray:
        """The model's window for the current hop: it ends A_max − A_m before the newest sample."""
        end = self._history_length - (self.max_lookahead - self.lookahead[arch])
        start = end - (self.context[arch] + self.timing.hop + self.lookahead[arch])
        return self._history[:, start:end]

    def _compute(self) -> Hop:
        hop, fade = self.timing.hop, self.timing.crossfade
        weights = self.weights()
        self._statistics.update(self._history[:, self._history_length - self._unmeasured :])
        self._unmeasured = 0
        statistics = self._statistics.current()
        fused = np.zeros((len(SOURCES), 2, hop + fade), dtype=np.float32)
        raw = {m: weights.get(m, (0.0,) * len(SOURCES)) for m in self.models}
        normalised = normalise_weights(raw, running=[m for m in self.models if m not in self.dropped])
        # a model nobody listens to costs nothing
        active = {m: np.asarray(normalised[m], np.float32) for m in self.estimators if any(normalised[m])}
        for arch, w in active.items():
            estimator = self.estimators[arch]
            started = time.perf_counter()
            window = torch.from_numpy(np.ascontiguousarray(self._window(arch))).unsqueeze(0)
            left = self.context[arch]
            if arch in self._filters:
                new = slice(left // HOP_LENGTH, (left + hop) // HOP_LENGTH)
                # frames whose 4096-sample windows reach into the kept samples [left, left + hop + fade)
                kept = slice(new.start - 2, (left + hop + fade) // HOP_LENGTH + 3)
                causal = self._filters[arch]
                stems = estimator.separate(
                    window, lambda v, x, c=causal, f=new, k=kept: c(v[0], x[0], f, k).unsqueeze(0), frames=kept
                )
                start = left - kept.start * HOP_LENGTH  # only the kept frames were synthesised
            else:
                stems = estimator(window, statistics)
                start = left
            fused += w[:, None, None] * stems[0, :, :, start : start + hop + fade].numpy()
            self.compute_seconds[arch] = time.perf_counter() - started
        out = fused[..., :hop].copy()
        if self._tail is not None and fade:
            ramp = (np.arange(fade, dtype=np.float32) + 0.5) / fade
            out[..., :fade] = self._tail * (1.0 - ramp) + out[..., :fade] * ramp
        self._tail = fused[..., hop:].copy()
        # the dry hop: input samples [kH, (k+1)H), which sit A_max before the newest sample
        end = self._history_length - self.max_lookahead
        dry = self._history[:, end - hop : end].copy()
        index = self._next_hop
        self._next_hop += 1
        return Hop(index, out, dry)


def stream_array(processor: StreamProcessor, mix: np.ndarray, block: int = 4096) -> np.ndarray:
    """Play a whole (2, N) signal through `processor` in `block`-sample pushes, as the live engine
    would, and return the stems (4, 2, N) realigned to the input (the hop's own delay removed).

    Used to measure what streaming costs against the offline path on the same audio."""
    processor.reset()
    hop = processor.timing.hop
    # enough trailing silence to flush the look-ahead and the last partial hop
    padded = np.concatenate([mix, np.zeros((2, processor.max_lookahead + hop), dtype=np.float32)], axis=1)
    hops: list[Hop] = []
    for start in range(0, padded.shape[1], block):
        hops += processor.push(np.ascontiguousarray(padded[:, start : start + block], dtype=np.float32))
    return np.concatenate([h.stems for h in hops], axis=-1)[..., : mix.shape[1]]
