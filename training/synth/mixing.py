"""Mixing the produced stems: pan, levels, bus compression, PCM16.

Constant-power pan, random RMS targets per stem, a bus compressor whose one gain curve is applied
to every stem, one common scale so nothing clips, and the mixture as the exact integer sum of the
PCM16 stems. Per-stem effects (reverbs included) are in effects.py.
"""

import numpy as np

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


def rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(audio.astype(np.float64) ** 2) + 1e-12))


def level(stems: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
    """Set each stem to a random RMS target (float64); a silent stem stays silent."""
    leveled = {}
    targets = {}
    for name, audio in stems.items():
        low, high = RMS_TARGETS_DB[name]
        targets[name] = float(rng.uniform(low, high))
        current = rms_db(audio)
        gain = 10 ** ((targets[name] - current) / 20) if current > -100 else 0.0
        leveled[name] = audio.astype(np.float64) * gain
    return leveled, {"rms_targets_db": targets}


def quantise(leveled: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """Scale all stems by one factor so neither a stem nor the mixture clips; int16 (n, 2) each."""
    mixture = sum(leveled.values())
    peak = max(np.max(np.abs(mixture)), *(np.max(np.abs(a)) for a in leveled.values()), 1e-9)
    scale = min(1.0, HEADROOM / peak)
    quantised = {name: np.round(audio * scale * 32767).astype(np.int16) for name, audio in leveled.items()}
    return quantised, {"common_scale_db": float(20 * np.log10(scale))}


def level_and_quantise(stems: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
    """Set each stem to a random RMS target, scale all so neither a stem nor the mixture clips.

    Returns int16 stems (n, 2) and the levels chosen. A silent stem stays silent.
    """
    leveled, targets = level(stems, rng)
    quantised, scale = quantise(leveled)
    return quantised, {**targets, **scale}


def bus_compress(
    stems: dict[str, np.ndarray], threshold_db: float, ratio: float, release_ms: float
) -> dict[str, np.ndarray]:
    """Glue compression of the whole mix, applied to every stem with the same gain curve.

    The gain follows the mixture's smoothed level, as a bus compressor would, but is multiplied
    into each stem, so the stems still add up to the compressed mixture exactly.
    """
    from scipy.signal import lfilter

    mixture = sum(stems.values())
    power = np.mean(mixture**2, axis=1)
    alpha = 1 - np.exp(-1000.0 / (release_ms * SAMPLE_RATE))
    smoothed = lfilter([alpha], [1, alpha - 1], power)
    level_db = 10 * np.log10(smoothed + 1e-12)
    reduction_db = np.maximum(level_db - threshold_db, 0) * (1 - 1 / ratio)
    gain = 10 ** (-reduction_db / 20)
    return {name: audio * gain[:, None] for name, audio in stems.items()}
