"""Synthesised drums: kick, snare, hats, toms, cymbals and clap from oscillators and noise.

Drum machines and electronic productions use drums like these, and neither the GM kits nor the
Hydrogen samples cover them well. A kit is drawn per song from continuous parameters, each hit is
made once and placed for every note (with its velocity), as the sample kits are.
"""

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.training.synth import music


@dataclass(frozen=True)
class SynthKit:
    kick_hz: float  # where the kick's pitch sweep ends
    kick_sweep: float  # how far above it starts (ratio)
    kick_decay: float
    snare_hz: float
    snare_noise: float  # share of noise in the snare
    snare_decay: float
    hat_hz: float  # hat noise high-pass
    hat_decay: float
    tom_hz: float
    cymbal_decay: float
    seed: int

    def describe(self) -> dict:
        return music.song_details(self)

    def render(self, notes, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Place a hit for every note; returns float32 (n_samples, 2)."""
        hits = _hits(self)
        out = np.zeros((n_samples, 2), np.float32)
        for note in notes:
            hit = hits.get(note.pitch)
            start = round(note.start * SAMPLE_RATE)
            if hit is None or start >= n_samples:
                continue
            sample, pan = hit
            gain = (0.3 + 0.7 * note.velocity / 127) * float(rng.uniform(0.92, 1.0))
            count = min(len(sample), n_samples - start)
            out[start : start + count] += gain * sample[:count, None] * pan[None]
        return out


def random_kit(rng: np.random.Generator) -> SynthKit:
    return SynthKit(
        kick_hz=float(rng.uniform(40, 65)),
        kick_sweep=float(rng.uniform(2, 6)),
        kick_decay=float(rng.uniform(0.15, 0.6)),
        snare_hz=float(rng.uniform(160, 260)),
        snare_noise=float(rng.uniform(0.4, 0.85)),
        snare_decay=float(rng.uniform(0.08, 0.25)),
        hat_hz=float(rng.uniform(5000, 9000)),
        hat_decay=float(rng.uniform(0.02, 0.08)),
        tom_hz=float(rng.uniform(80, 140)),
        cymbal_decay=float(rng.uniform(0.6, 1.6)),
        seed=int(rng.integers(2**31)),
    )


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def _filtered(noise: np.ndarray, kind: str, hz) -> np.ndarray:
    return sosfilt(butter(2, hz, btype=kind, fs=SAMPLE_RATE, output="sos"), noise)


def _sweep(t: np.ndarray, end_hz: float, ratio: float, sweep_time: float) -> np.ndarray:
    freq = end_hz * (1 + (ratio - 1) * np.exp(-t / sweep_time))
    return np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE)


def _hits(kit: SynthKit) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """One sample per GM key, peak-normalised, with a pan gain pair."""
    rng = np.random.default_rng(kit.seed)

    def noise(count: int) -> np.ndarray:
        return rng.standard_normal(count)

    t = _t(kit.kick_decay * 3)
    kick = _sweep(t, kit.kick_hz, kit.kick_sweep, 0.03) * np.exp(-t / kit.kick_decay)
    kick[:200] += _filtered(noise(200), "highpass", 2000) * 0.3  # beater click
    t = _t(kit.snare_decay * 4)
    snare = (1 - kit.snare_noise) * _sweep(t, kit.snare_hz, 1.3, 0.02) * np.exp(-t / (kit.snare_decay * 0.6))
    snare += kit.snare_noise * _filtered(noise(len(t)), "bandpass", (1500, 9000)) * np.exp(-t / kit.snare_decay)
    hat = _filtered(noise(len(_t(0.6))), "highpass", kit.hat_hz)
    t_hat = _t(0.6)
    t = _t(kit.cymbal_decay * 3)
    cymbal = _filtered(noise(len(t)), "highpass", 4000) * np.exp(-t / kit.cymbal_decay)
    t_clap = _t(0.3)
    clap_env = sum(np.exp(-np.maximum(t_clap - d, 0) / 0.008) * (t_clap >= d) for d in (0.0, 0.012, 0.024))
    clap_env = clap_env + 0.5 * np.exp(-np.maximum(t_clap - 0.03, 0) / 0.08) * (t_clap >= 0.03)
    clap = _filtered(noise(len(t_clap)), "bandpass", (900, 2500)) * clap_env

    def tom(ratio: float) -> np.ndarray:
        t = _t(0.6)
        return _sweep(t, kit.tom_hz * ratio, 1.5, 0.05) * np.exp(-t / 0.18)

    def norm(x: np.ndarray, level: float = 1.0) -> np.ndarray:
        return (level * x / (np.max(np.abs(x)) + 1e-9)).astype(np.float32)

    def pan(position: float) -> np.ndarray:
        angle = (position + 1) * np.pi / 4
        return np.array([np.cos(angle), np.sin(angle)], np.float32) * np.sqrt(2)

    hat_closed = hat[: len(t_hat)] * np.exp(-t_hat / kit.hat_decay)
    return {
        music.KICK: (norm(kick), pan(0.0)),
        music.SNARE: (norm(snare, 0.8), pan(0.05)),
        music.SIDE_STICK: (
            norm(_filtered(noise(len(_t(0.05))), "bandpass", (1500, 4000)) * np.exp(-_t(0.05) / 0.01), 0.5),
            pan(0.1),
        ),
        music.CLAP: (norm(clap, 0.7), pan(0.0)),
        music.CLOSED_HAT: (norm(hat_closed, 0.35), pan(0.3)),
        music.PEDAL_HAT: (norm(hat[: len(t_hat)] * np.exp(-t_hat / (kit.hat_decay * 0.7)), 0.25), pan(0.3)),
        music.OPEN_HAT: (norm(hat * np.exp(-t_hat / (kit.hat_decay * 5)), 0.35), pan(0.3)),
        music.CRASH: (norm(cymbal, 0.4), pan(-0.4)),
        music.RIDE: (norm(cymbal[: int(0.8 * SAMPLE_RATE)] * np.exp(-_t(0.8)[: len(cymbal)] / 0.3), 0.25), pan(0.4)),
        music.LOW_TOM: (norm(tom(1.0), 0.7), pan(-0.3)),
        music.MID_TOM: (norm(tom(1.3), 0.7), pan(0.0)),
        music.HIGH_TOM: (norm(tom(1.7), 0.7), pan(0.3)),
    }
