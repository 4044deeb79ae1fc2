"""Plain numpy synths for basses, leads and pads: subtractive (saws and pulses through a swept
low-pass) and two-operator FM.

Sample-based SoundFonts give every song the same few hundred timbres; a synth drawn per song from
continuous parameters gives a new one each time, and electronic music is made of exactly these.
A patch is a plain dataclass so it can be recorded in song.json.
"""

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.training.synth.music import Note, song_details

ROLES = ("bass", "lead", "pad")


@dataclass(frozen=True)
class Patch:
    kind: str  # subtractive or fm
    wave: str  # saw or pulse (subtractive)
    voices: int  # detuned copies (subtractive)
    detune_cents: float
    cutoff_hz: float  # resting low-pass cutoff
    env_octaves: float  # how far the filter envelope opens it
    filter_decay: float
    fm_ratio: float
    fm_index: float
    fm_decay: float
    attack: float
    decay: float
    sustain: float
    release: float

    def describe(self) -> dict:
        return song_details(self)


def random_patch(role: str, rng: np.random.Generator) -> Patch:
    """A patch for `role`: pads swell and hold, basses and leads start at once."""
    kind = "fm" if rng.random() < 0.35 else "subtractive"
    pad = role == "pad"
    return Patch(
        kind=kind,
        wave=str(rng.choice(["saw", "pulse"])),
        voices=int(rng.integers(2, 5)) if pad else int(rng.integers(1, 3)),
        detune_cents=float(rng.uniform(4, 20)),
        cutoff_hz=float(np.exp(rng.uniform(np.log(250), np.log(2500 if role == "bass" else 5000)))),
        env_octaves=float(rng.uniform(0, 4)),
        filter_decay=float(rng.uniform(0.05, 0.6)),
        fm_ratio=float(rng.choice([0.5, 1.0, 1.0, 2.0, 3.0, 3.5])),
        fm_index=float(rng.uniform(0.5, 5)),
        fm_decay=float(rng.uniform(0.05, 1.0)),
        attack=float(rng.uniform(0.1, 0.8)) if pad else float(rng.uniform(0.002, 0.02)),
        decay=float(rng.uniform(0.1, 0.8)),
        sustain=float(rng.uniform(0.4, 1.0)),
        release=float(rng.uniform(0.3, 1.2)) if pad else float(rng.uniform(0.03, 0.25)),
    )


def _saw(phase: np.ndarray, step: float) -> np.ndarray:
    """Band-limited (PolyBLEP) sawtooth from a phase in cycles."""
    p = phase % 1.0
    out = 2 * p - 1
    start, end = p < step, p > 1 - step
    t = p[start] / step
    out[start] -= t + t - t * t - 1
    t = (p[end] - 1) / step
    out[end] -= t * t + t + t + 1
    return out


def _envelope(patch: Patch, held: int, total: int) -> np.ndarray:
    t = np.arange(total) / SAMPLE_RATE
    attack = np.minimum(t / patch.attack, 1.0)
    decay = patch.sustain + (1 - patch.sustain) * np.exp(-np.maximum(t - patch.attack, 0) / patch.decay)
    level = attack * decay
    after = np.arange(total) >= held
    if held < total:
        level[after] = level[held - 1 if held else 0] * np.exp(-(t[after] - t[held]) / (patch.release / 4))
    return level


def _voice(patch: Patch, note: Note, held: int, total: int) -> np.ndarray:
    freq = 440.0 * 2 ** ((note.pitch - 69) / 12)
    t = np.arange(total) / SAMPLE_RATE
    if patch.kind == "fm":
        index = patch.fm_index * (0.3 + 0.7 * np.exp(-t / patch.fm_decay))
        modulator = np.sin(2 * np.pi * freq * patch.fm_ratio * t)
        return np.sin(2 * np.pi * freq * t + index * modulator)
    tone = np.zeros(total)
    for v in range(patch.voices):
        cents = patch.detune_cents * (v - (patch.voices - 1) / 2) / max(patch.voices - 1, 1) * 2
        f = freq * 2 ** (cents / 1200)
        phase = f * t + v * 0.37
        wave = _saw(phase, f / SAMPLE_RATE)
        if patch.wave == "pulse":
            wave = wave - _saw(phase + 0.5, f / SAMPLE_RATE)
        tone += wave
    tone /= patch.voices
    # a swept low-pass as a cross-fade between a dark and an open filtering of the same tone
    nyquist = SAMPLE_RATE / 2 * 0.95
    dark = sosfilt(butter(2, min(patch.cutoff_hz, nyquist), fs=SAMPLE_RATE, output="sos"), tone)
    opened = min(patch.cutoff_hz * 2**patch.env_octaves, nyquist)
    bright = sosfilt(butter(2, opened, fs=SAMPLE_RATE, output="sos"), tone)
    sweep = np.exp(-t / patch.filter_decay)
    return dark + sweep * (bright - dark)


def render(notes: tuple[Note, ...], n_samples: int, patch: Patch) -> np.ndarray:
    """Play `notes` with `patch`; returns float32 mono (n_samples,), peak about 1."""
    out = np.zeros(n_samples)
    for note in notes:
        start = round(note.start * SAMPLE_RATE)
        if start >= n_samples:
            continue
        held = max(1, round((note.end - note.start) * SAMPLE_RATE))
        total = min(held + round(patch.release * SAMPLE_RATE), n_samples - start)
        held = min(held, total)
        out[start : start + total] += (
            _voice(patch, note, held, total) * _envelope(patch, held, total) * (note.velocity / 127)
        )
    peak = np.max(np.abs(out))
    return (out / peak if peak > 0 else out).astype(np.float32)
