"""Production per stem: EQ, compression, saturation, chorus, delay, reverb, guitar amps.

Real stems are produced, not just levelled; a model trained on dry, flat stems learns shortcuts
(a clean attack means drums, no tail means bass) that real mixes do not offer. Each chain is drawn
as a list of plain dicts (effect name and parameters), which go into song.json as the recipe, and
is built from those dicts with Spotify's pedalboard (C++), so processing costs little. Every effect
keeps the length: tails that ring past the end of the song are cut, as on a real fade.
"""

import numpy as np
import pedalboard as pb

from dannasep.engine.constants import SAMPLE_RATE

# the lowest content kept per stem: a bass keeps its sub, a vocal loses its rumble
_HIGHPASS_HZ = {"drums": (25, 60), "bass": (20, 40), "other": (50, 200), "vocals": (70, 150)}
_REVERB_CHANCE = {"drums": 0.6, "bass": 0.2, "other": 0.8, "vocals": 0.9}
REVERB_KINDS = ("room", "plate", "hall", "noise-tail")

_PLUGINS = {
    "highpass": lambda p: pb.HighpassFilter(cutoff_frequency_hz=p["hz"]),
    "lowpass": lambda p: pb.LowpassFilter(cutoff_frequency_hz=p["hz"]),
    "peak": lambda p: pb.PeakFilter(cutoff_frequency_hz=p["hz"], gain_db=p["db"], q=p["q"]),
    "low-shelf": lambda p: pb.LowShelfFilter(cutoff_frequency_hz=p["hz"], gain_db=p["db"]),
    "high-shelf": lambda p: pb.HighShelfFilter(cutoff_frequency_hz=p["hz"], gain_db=p["db"]),
    "compressor": lambda p: pb.Compressor(
        threshold_db=p["threshold_db"], ratio=p["ratio"], attack_ms=p["attack_ms"], release_ms=p["release_ms"]
    ),
    "saturation": lambda p: pb.Distortion(drive_db=p["drive_db"]),
    "gain": lambda p: pb.Gain(gain_db=p["db"]),
    "chorus": lambda p: pb.Chorus(rate_hz=p["rate_hz"], depth=p["depth"], mix=p["mix"]),
    "delay": lambda p: pb.Delay(delay_seconds=p["seconds"], feedback=p["feedback"], mix=p["mix"]),
    "reverb": lambda p: pb.Reverb(
        room_size=p["room_size"], damping=p["damping"], wet_level=p["wet"], dry_level=1 - p["wet"], width=p["width"]
    ),
}


def _u(rng: np.random.Generator, low: float, high: float, digits: int = 3) -> float:
    return round(float(rng.uniform(low, high)), digits)


def _log_u(rng: np.random.Generator, low: float, high: float) -> float:
    return round(float(np.exp(rng.uniform(np.log(low), np.log(high)))), 1)


def reverb_effect(rng: np.random.Generator, kind: str | None = None) -> dict:
    """One reverb of a random kind; `noise-tail` is a convolution with decaying noise, the others freeverb."""
    kind = kind or str(rng.choice(REVERB_KINDS))
    if kind == "noise-tail":
        return {
            "effect": "noise-tail",
            "rt60": _u(rng, 0.3, 1.6),
            "wet": _u(rng, 0.05, 0.3),
            "seed": int(rng.integers(2**31)),
        }
    size = {"room": (0.2, 0.45), "plate": (0.45, 0.7), "hall": (0.7, 0.95)}[kind]
    damping = {"room": (0.4, 0.8), "plate": (0.1, 0.4), "hall": (0.2, 0.6)}[kind]
    return {
        "effect": "reverb",
        "kind": kind,
        "room_size": _u(rng, *size),
        "damping": _u(rng, *damping),
        "wet": _u(rng, 0.06, 0.3),
        "width": _u(rng, 0.6, 1.0),
    }


def amp_chain(rng: np.random.Generator) -> list[dict]:
    """A guitar amp and cabinet: mid push, hard drive, a speaker's band limits, level back down."""
    drive = _u(rng, 12, 36, 1)
    return [
        {"effect": "highpass", "hz": _log_u(rng, 70, 140)},
        {"effect": "peak", "hz": _log_u(rng, 600, 1600), "db": _u(rng, 3, 9, 1), "q": _u(rng, 0.5, 1.2)},
        {"effect": "saturation", "drive_db": drive},
        {"effect": "peak", "hz": _log_u(rng, 300, 500), "db": _u(rng, -6, -1, 1), "q": _u(rng, 0.7, 1.5)},
        {"effect": "lowpass", "hz": _log_u(rng, 3000, 6500)},
        {"effect": "gain", "db": round(-0.7 * drive, 1)},
    ]


def stem_chain(stem: str, rng: np.random.Generator, beat_seconds: float) -> list[dict]:
    """A random production chain for one stem (`beat_seconds` syncs the delay to the song)."""
    chain: list[dict] = [{"effect": "highpass", "hz": _log_u(rng, *_HIGHPASS_HZ[stem])}]
    if rng.random() < 0.7:
        chain.append({"effect": "peak", "hz": _log_u(rng, 150, 6000), "db": _u(rng, -6, 6, 1), "q": _u(rng, 0.5, 2.5)})
    if rng.random() < 0.4:
        chain.append({"effect": "low-shelf", "hz": _log_u(rng, 80, 300), "db": _u(rng, -4, 4, 1)})
    if rng.random() < 0.5:
        chain.append({"effect": "high-shelf", "hz": _log_u(rng, 4000, 10000), "db": _u(rng, -5, 5, 1)})
    if rng.random() < 0.7:
        chain.append(
            {
                "effect": "compressor",
                "threshold_db": _u(rng, -30, -8, 1),
                "ratio": _u(rng, 1.5, 6, 2),
                "attack_ms": _log_u(rng, 1, 30),
                "release_ms": _log_u(rng, 40, 400),
            }
        )
    if rng.random() < 0.25:
        drive = _u(rng, 2, 12, 1)
        chain += [{"effect": "saturation", "drive_db": drive}, {"effect": "gain", "db": round(-0.5 * drive, 1)}]
    if stem in ("other", "vocals") and rng.random() < 0.25:
        chain.append(
            {"effect": "chorus", "rate_hz": _u(rng, 0.3, 2.5), "depth": _u(rng, 0.1, 0.4), "mix": _u(rng, 0.2, 0.5)}
        )
    if stem in ("other", "vocals") and rng.random() < 0.3:
        beats = float(rng.choice([0.5, 0.75, 1.0]))
        chain.append(
            {
                "effect": "delay",
                "seconds": round(min(beat_seconds * beats, 1.5), 4),
                "feedback": _u(rng, 0.15, 0.45),
                "mix": _u(rng, 0.08, 0.3),
            }
        )
    if rng.random() < _REVERB_CHANCE[stem]:
        chain.append(reverb_effect(rng))
    return chain


def noise_tail_reverb(stereo: np.ndarray, rt60: float, wet: float, seed: int) -> np.ndarray:
    """Decorrelated stereo exponential-noise reverb (a convolution; freeverb's tail sounds different)."""
    from scipy.signal import oaconvolve

    rng = np.random.default_rng(seed)
    length = int(rt60 * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    impulse = rng.standard_normal((length, 2)) * np.exp(-6.9 * t / rt60)[:, None]  # -60 dB at rt60
    impulse[: int(0.01 * SAMPLE_RATE)] = 0  # 10 ms pre-delay
    impulse /= np.sqrt(np.sum(impulse**2, axis=0, keepdims=True))
    tail = oaconvolve(stereo, impulse, axes=0)[: len(stereo)]
    return ((1 - wet) * stereo + wet * tail).astype(np.float32)


def apply_chain(audio: np.ndarray, chain: list[dict]) -> np.ndarray:
    """Run (n, 2) or (n,) float audio through `chain`; returns float32 of the same shape."""
    mono = audio.ndim == 1
    stereo = np.ascontiguousarray(np.atleast_2d(audio.T) if not mono else audio[None], dtype=np.float32)
    pending: list = []

    def flush(signal: np.ndarray) -> np.ndarray:
        if not pending:
            return signal
        board = pb.Pedalboard(list(pending))
        pending.clear()
        return board(signal, SAMPLE_RATE, reset=True)

    for step in chain:
        if step["effect"] == "noise-tail":
            signal = flush(stereo)
            if signal.shape[0] == 1:
                signal = np.repeat(signal, 2, axis=0)
            stereo = np.ascontiguousarray(noise_tail_reverb(signal.T, step["rt60"], step["wet"], step["seed"]).T)
        else:
            pending.append(_PLUGINS[step["effect"]](step))
    stereo = flush(stereo)
    out = stereo[0] if mono and stereo.shape[0] == 1 else stereo.T
    return np.ascontiguousarray(out, dtype=np.float32)
