"""The paper's training augmentations, applied to each source independently.

gain U(0.25, 1.25), left/right swap (p 0.5), sign flip (p 0.5), and optionally a speed
perturbation (resampling by 0.9 or 1.1, which changes tempo and pitch together, p 0.2).
"""

from dataclasses import dataclass

import numpy as np
import soxr

from dannasep.engine.constants import SAMPLE_RATE


@dataclass(frozen=True)
class AugmentConfig:
    gain_low: float = 0.25
    gain_high: float = 1.25
    swap_probability: float = 0.5
    flip_probability: float = 0.5
    speed_probability: float = 0.0
    speeds: tuple[float, ...] = (0.9, 1.1)


def speed_factor(rng: np.random.Generator, config: AugmentConfig) -> float:
    """1.0, or one of `speeds` with probability `speed_probability`."""
    if config.speed_probability > 0 and rng.random() < config.speed_probability:
        return float(rng.choice(config.speeds))
    return 1.0


def change_speed(excerpt: np.ndarray, factor: float, frames: int) -> np.ndarray:
    """Play (2, n) `excerpt` `factor` times faster; returns exactly `frames` samples."""
    if factor == 1.0:
        return excerpt[:, :frames]
    out = soxr.resample(excerpt.T, SAMPLE_RATE * factor, SAMPLE_RATE, quality="HQ").T
    if out.shape[1] < frames:
        out = np.pad(out, ((0, 0), (0, frames - out.shape[1])))
    return np.ascontiguousarray(out[:, :frames], dtype=np.float32)
