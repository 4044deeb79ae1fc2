"""Lengths on the STFT grid (multiples of the STFT hop), so that the frames of successive live
windows line up. Two roundings, for two purposes: a length the user gives goes to the nearest
multiple, a length a network needs goes up to the next one (never shorter than it needs)."""

from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE


def nearest_stft_multiple(seconds: float, minimum: int = 1) -> int:
    """Seconds to the nearest whole number of STFT hops (at least `minimum`), in samples."""
    return max(minimum, round(seconds * SAMPLE_RATE / HOP_LENGTH)) * HOP_LENGTH


def stft_multiple_covering(samples: int) -> int:
    """The smallest whole number of STFT hops that holds `samples`, in samples."""
    return -(-samples // HOP_LENGTH) * HOP_LENGTH
