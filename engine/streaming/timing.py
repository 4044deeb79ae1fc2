"""The live engine's timing knobs in seconds, as users give them, and what they become in samples.

Latency = hop + the largest model look-ahead + safety. The hop, cross-fade and look-ahead move on
the STFT grid (1024 samples) so that successive windows' frames line up; the safety margin, which
only covers the inference process's compute time, is any number of samples.
"""

from dataclasses import dataclass

from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE


def on_stft_grid(seconds: float, minimum: int = 1) -> int:
    """Seconds to the nearest whole number of STFT hops (at least `minimum`), in samples."""
    return max(minimum, round(seconds * SAMPLE_RATE / HOP_LENGTH)) * HOP_LENGTH


def default_crossfade(hop: int) -> int:
    """Cross-fade between hops: ~93 ms, but at most half a hop (on the STFT grid)."""
    return min(4 * HOP_LENGTH, hop // 2 // HOP_LENGTH * HOP_LENGTH)


@dataclass(frozen=True)
class LiveTiming:
    """hop: audio per inference step; crossfade: between consecutive hops (None: ~93 ms, at most
    half the hop); safety: margin for the inference process's compute time (None: one hop);
    lookahead / context: future / past audio per model window (None: each checkpoint's own)."""

    hop_seconds: float = 1.0
    crossfade_seconds: float | None = None
    safety_seconds: float | None = None
    lookahead_seconds: float | None = None
    context_seconds: float | None = None

    @property
    def hop(self) -> int:
        return on_stft_grid(self.hop_seconds)

    @property
    def crossfade(self) -> int:
        if self.crossfade_seconds is None:
            return default_crossfade(self.hop)
        return on_stft_grid(self.crossfade_seconds, minimum=0)

    @property
    def safety(self) -> int:
        return self.hop if self.safety_seconds is None else round(self.safety_seconds * SAMPLE_RATE)

    def config_fields(self) -> dict[str, object]:
        """The matching LiveConfig fields."""
        return {
            "hop": self.hop,
            "crossfade": self.crossfade,
            "safety": self.safety,
            "lookahead_seconds": self.lookahead_seconds,
            "context_seconds": self.context_seconds,
        }

    def describe(self) -> str:
        own = "each checkpoint's own"
        ahead = own if self.lookahead_seconds is None else f"{self.lookahead_seconds} s"
        context = own if self.context_seconds is None else f"{self.context_seconds} s"
        ms = 1000 / SAMPLE_RATE
        return (
            f"hop {self.hop} samples ({self.hop * ms:.0f} ms), cross-fade {self.crossfade * ms:.0f} ms, "
            f"safety {self.safety * ms:.0f} ms, look-ahead {ahead}, context {context}"
        )
