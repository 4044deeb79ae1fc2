"""Mixing the rendered parts into four stems: pan, synthetic reverb, levels, PCM16.

Follows the recipe's mixing stage: constant-power pan, stereo exponential-noise reverb per stem
(RT60 0.3-1.6 s, 5-30 % wet), random RMS targets per stem, one common scale so nothing clips, and
the mixture as the exact integer sum of the PCM16 stems.
"""

import numpy as np
from scipy.signal import oaconvolve

from dannasep.engine.constants import SAMPLE_RATE

RMS_TARGETS_DB = {"drums": (-20.0, -20.0), "bass": (-24.0, -19.0), "other": (-24.0, -18.0), "vocals": (-21.0, -16.0)}
HEADROOM = 0.95


def pan(mono_or_stereo: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan; position in [-1, 1]. Input (n,) or (n, 2); returns (n, 2)."""
    angle = (position + 1) * np.pi / 4
    gains = np.array([np.cos(angle), np.sin(angle)], np.float32) * np.sqrt(2)
    if mono_or_stereo.ndim == 1:
        return mono_or_stereo[:, None] * gains[None] / np.sqrt(2)
    return mono_or_stereo * gains[None]


def reverb(stereo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add a decorrelated stereo noise-tail reverb; returns (n, 2) of the same length."""
    rt60 = rng.uniform(0.3, 1.6)
    wet = rng.uniform(0.05, 0.30)
    length = int(rt60 * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    decay = np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    impulse = rng.standard_normal((length, 2)) * decay[:, None]
    impulse[: int(0.01 * SAMPLE_RATE)] = 0  # 10 ms pre-delay
    impulse /= np.sqrt(np.sum(impulse**2, axis=0, keepdims=True))
    tail = oaconvolve(stereo, impulse, axes=0)[: len(stereo)]
    return ((1 - wet) * stereo + wet * tail).astype(np.float32)


def rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(audio.astype(np.float64) ** 2) + 1e-12))


def level_and_quantise(stems: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
    """Set each stem to a random RMS target, scale all so neither a stem nor the mixture clips.

    Returns int16 stems (n, 2) and the levels chosen. A silent stem stays silent.
    """
    leveled = {}
    targets = {}
    for name, audio in stems.items():
        low, high = RMS_TARGETS_DB[name]
        targets[name] = float(rng.uniform(low, high))
        current = rms_db(audio)
        gain = 10 ** ((targets[name] - current) / 20) if current > -100 else 0.0
        leveled[name] = audio.astype(np.float64) * gain
    mixture = sum(leveled.values())
    peak = max(np.max(np.abs(mixture)), *(np.max(np.abs(a)) for a in leveled.values()), 1e-9)
    scale = min(1.0, HEADROOM / peak)
    quantised = {name: np.round(audio * scale * 32767).astype(np.int16) for name, audio in leveled.items()}
    return quantised, {"rms_targets_db": targets, "common_scale_db": float(20 * np.log10(scale))}
