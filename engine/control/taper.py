"""The published fader taper shared by the GUI and the OSC bridge.

Position 0 is silence (-inf dB); positions in (0, 1] map linearly in dB from -60 dB to +12 dB, so
0 dB sits at 60/72 ≈ 0.833. Meters map peak level the same way over -60..0 dBFS.
"""

import math

FADER_MIN_DB = -60.0
FADER_MAX_DB = 12.0


def fader_to_db(position: float) -> float:
    if position <= 0.0:
        return -math.inf
    position = min(position, 1.0)
    return FADER_MIN_DB + (FADER_MAX_DB - FADER_MIN_DB) * position


def db_to_fader(db: float) -> float:
    if db == -math.inf or db <= FADER_MIN_DB:
        return 0.0
    return min(1.0, (db - FADER_MIN_DB) / (FADER_MAX_DB - FADER_MIN_DB))


def peak_to_meter(peak: float) -> float:
    """A linear peak (1 = full scale) as a 0..1 meter value over -60..0 dBFS."""
    if peak <= 0.0:
        return 0.0
    return max(0.0, min(1.0, (20.0 * math.log10(peak) + 60.0) / 60.0))
