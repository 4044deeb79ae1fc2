"""How render-ahead playback renders: the lead it keeps, the quick chunks after a start or a seek,
and the size of its cache."""

from dataclasses import dataclass

from dannasep.engine.constants import SAMPLE_RATE


@dataclass(frozen=True)
class RenderAheadSettings:
    """Seconds unless said otherwise.

    lead: how far ahead of the playhead the offline-plan render keeps going.
    quick: the first quick chunk after a start or a seek into audio not yet rendered; each next
        quick chunk is `quick_growth` times longer, until the offline plan can take over. Where the
        measured render rate needs it, the first chunk is longer and the growth smaller
        (`schedule.quick_phase`).
    quick_context: real audio on each side of a quick chunk, at least (the offline plan gives each
        model its own, longer context).
    margin: what the offline plan must still have in hand when its chunk is done.
    cache_mb: the cap on the stem cache; see StemCache for what happens when it is reached.
    throttle: seconds the renderer idles per second of audio it renders, to rehearse a machine
        that cannot keep ahead (tests and benchmarks); 0 in normal use.
    fallback_rtf: the render's real-time factor above which playback switches to streaming.
    fallback_after: seconds of render compute measured before that factor can decide.
    """

    lead: float = 20.0
    quick: float = 1.0
    quick_growth: float = 2.0
    quick_context: float = 1.0
    margin: float = 1.0
    cache_mb: float = 256.0
    page_frames: int = 1 << 15
    throttle: float = 0.0
    fallback_rtf: float = 1.0
    fallback_after: float = 10.0

    def samples(self, seconds: float) -> int:
        return round(seconds * SAMPLE_RATE)
