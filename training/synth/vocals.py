"""Sung vocals: festival's singing mode for phonemes and timing, re-voiced with WORLD.

Festival (diphone voice, 16 kHz) sings one monosyllabic word per note. The `BPM="50"` trick makes
a beat last exactly one second, so DURATION/REST beats are seconds and the output follows the
note timing. WORLD (pyworld) then replaces the pitch with the exact melody plus portamento,
vibrato, scoops and drift, scales the formants for singer variety, extends the spectral envelope
above festival's 8 kHz band edge with a random slope (so "vocals have a soft band edge" is no
shortcut for a model) and resynthesises at 44.1 kHz.

Singers vary: every installed English diphone voice of festival (kal and ked in Debian; the HTS
voices ignore the singing mode's pitches and durations, so they are left out), an octave up or
down where the melody stays singable, formants scaled both ways (deeper or brighter than the
speaker), vibrato rate and depth, and breathiness (aperiodicity raised across the band).
"""

import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.errors import DannaSepError
from dannasep.training.synth.music import KEY_NAMES, Note

FRAME_MS = 10.0
VOICE_ROOT = Path("/usr/share/festival/voices/english")
_BAND_EDGE_HZ = 7400.0
_FESTIVAL_TOP = 64  # E4, the highest MIDI note festival is asked to sing
_NOTE_NAMES = tuple(name.replace("Eb", "D#").replace("Ab", "G#").replace("Bb", "A#") for name in KEY_NAMES)


class SingingError(DannaSepError):
    """festival could not sing a score."""


def _pyworld():
    with warnings.catch_warnings():  # pyworld 0.3.5 imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        import pyworld
    return pyworld


def festival_available() -> bool:
    try:
        _pyworld()
    except ImportError:
        return False
    return shutil.which("text2wave") is not None


def festival_voices() -> tuple[str, ...]:
    """Installed festival diphone voices that can sing, e.g. ('kal_diphone', 'ked_diphone')."""
    if not VOICE_ROOT.is_dir():
        return ()
    return tuple(sorted(path.name for path in VOICE_ROOT.iterdir() if path.name.endswith("_diphone")))


@dataclass(frozen=True)
class Voice:
    """Random singer traits (drawn per song)."""

    formant_scale: float
    vibrato_hz: float
    vibrato_cents: float
    high_slope_db_per_octave: float
    speaker: str = ""  # festival voice; empty: festival's default
    breathiness: float = 0.0  # 0: festival's own aperiodicity, 1: whispered
    octave: int = 0  # sung this many octaves off the written melody

    def describe(self) -> dict:
        return {
            "speaker": self.speaker or "default",
            "formant_scale": round(self.formant_scale, 3),
            "vibrato_hz": round(self.vibrato_hz, 2),
            "vibrato_cents": round(self.vibrato_cents, 1),
            "breathiness": round(self.breathiness, 3),
            "octave": self.octave,
            "high_slope_db_per_octave": round(self.high_slope_db_per_octave, 1),
        }


def random_voice(rng: np.random.Generator, notes: tuple[Note, ...] = ()) -> Voice:
    """Draw a singer; an octave shift is only taken if the melody then stays within E2-C6."""
    formant = float(rng.uniform(1.0, 1.25))
    vibrato_hz, vibrato_cents, slope = (
        float(rng.uniform(4.8, 6.2)),
        float(rng.uniform(15, 60)),
        float(rng.uniform(8, 18)),
    )
    speakers = festival_voices()
    speaker = str(speakers[int(rng.integers(len(speakers)))]) if speakers else ""
    breathiness = float(rng.uniform(0.0, 0.5) if rng.random() < 0.5 else 0.0)
    octave = int(rng.choice([-1, 0, 0, 0, 1]))
    pitches = [n.pitch for n in notes]
    if pitches and not (min(pitches) + 12 * octave >= 40 and max(pitches) + 12 * octave <= 84):
        octave = 0
    if octave < 0:  # a low singer has a longer vocal tract
        formant *= float(rng.uniform(0.85, 0.95))
    return Voice(formant, vibrato_hz, vibrato_cents, slope, speaker, breathiness, octave)


def _singing_xml(notes: tuple[Note, ...]) -> str:
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE SINGING PUBLIC "-//SINGING//DTD SINGING mark up//EN" "Singing.v0_1.dtd" []>',
        '<SINGING BPM="50">',
    ]
    clock = 0.0
    for note in notes:
        if note.start - clock > 0.01:
            lines.append(f'<REST BEATS="{note.start - clock:.3f}"></REST>')
        # festival counts octaves so that A5 is 440 Hz, i.e. MIDI octave + 1
        name = f"{_NOTE_NAMES[note.pitch % 12]}{note.pitch // 12}"
        lines.append(
            f'<PITCH NOTE="{name}"><DURATION BEATS="{note.end - note.start:.3f}">'
            f"{note.lyric or 'la'}</DURATION></PITCH>"
        )
        clock = note.end
    lines.append("</SINGING>")
    return "\n".join(lines)


def _festival(notes: tuple[Note, ...], speaker: str = "") -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory(prefix="dannasep-sing-") as tmp:
        score, wav = Path(tmp) / "song.xml", Path(tmp) / "song.wav"
        score.write_text(_singing_xml(notes))
        command = ["text2wave", "-mode", "singing", str(score), "-o", str(wav)]
        if speaker:
            command[1:1] = ["-eval", f"(voice_{speaker})"]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=120)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            raise SingingError(f"festival failed on the score: {error}") from error
        audio, rate = sf.read(wav, dtype="float64")
    return audio, rate


def _melody_f0(notes: tuple[Note, ...], n_frames: int, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """Target pitch in Hz per 10 ms frame (0 where no note sounds)."""
    times = np.arange(n_frames) * FRAME_MS / 1000
    midi = np.zeros(n_frames)
    for note in notes:
        inside = (times >= note.start) & (times < note.end)
        onset = times[inside] - note.start
        scoop = -rng.uniform(0, 0.8) * np.exp(-onset / 0.05) if rng.random() < 0.4 else 0.0
        vibrato = (
            voice.vibrato_cents
            / 100
            * np.sin(2 * np.pi * voice.vibrato_hz * onset)
            * np.clip((onset - 0.15) / 0.2, 0, 1)
        )
        midi[inside] = note.pitch + scoop + vibrato
    voiced = midi > 0
    # 60 ms portamento between neighbouring notes, drift and jitter
    smoothed = midi.copy()
    alpha = 1 - np.exp(-FRAME_MS / 60)
    for i in range(1, n_frames):
        if voiced[i] and voiced[i - 1]:
            smoothed[i] = smoothed[i - 1] + alpha * (midi[i] - smoothed[i - 1])
    drift = np.cumsum(rng.normal(0, 0.004, n_frames)) + rng.normal(0, 0.02, n_frames)
    f0 = 440.0 * 2 ** ((smoothed + drift - 69) / 12)
    return np.where(voiced, f0, 0.0)


def _to_project_rate(envelope: np.ndarray, source_rate: int, fft_size: int, scale: float) -> np.ndarray:
    """Map (frames, bins) of a `source_rate` analysis to `fft_size` bins at the project rate.

    Formants move up by `scale`; above festival's band edge (scaled) the envelope holds the edge
    value, for the caller to shape.
    """
    source_freqs = np.linspace(0, source_rate / 2, envelope.shape[1])
    target_freqs = np.linspace(0, SAMPLE_RATE / 2, fft_size // 2 + 1)
    lookup = np.minimum(target_freqs / scale, _BAND_EDGE_HZ)
    return np.stack([np.interp(lookup, source_freqs, frame) for frame in envelope])


def _transposed(notes: tuple[Note, ...], semitones: int) -> tuple[Note, ...]:
    return tuple(Note(n.start, n.end, n.pitch + semitones, n.velocity, n.lyric) for n in notes) if semitones else notes


def sing(notes: tuple[Note, ...], n_samples: int, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """Render the melody as a sung voice; returns float32 mono (n_samples,)."""
    pyworld = _pyworld()
    if not notes:
        return np.zeros(n_samples, np.float32)
    # festival's diphone voices crash on high notes (from about C5), so festival sings octaves
    # below E4 and WORLD sets the pitch the melody and the singer's octave ask for
    down = 12 * max(0, int(np.ceil((max(n.pitch for n in notes) - _FESTIVAL_TOP) / 12)))
    audio, rate = _festival(_transposed(notes, -down), voice.speaker)
    notes = _transposed(notes, 12 * voice.octave)
    f0, frame_times = pyworld.dio(audio, rate, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(audio, f0, frame_times, rate)
    envelope = pyworld.cheaptrick(audio, f0, frame_times, rate)
    aperiodicity = pyworld.d4c(audio, f0, frame_times, rate)
    n_frames = max(len(f0), int(np.ceil(n_samples / SAMPLE_RATE * 1000 / FRAME_MS)) + 1)
    target = _melody_f0(notes, n_frames, voice, rng)
    festival_voiced = np.zeros(n_frames, bool)
    festival_voiced[: len(f0)] = f0[:n_frames] > 0
    target = np.where(festival_voiced, target, 0.0)  # keep festival's consonants unvoiced

    def padded(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.full((n_frames, values.shape[1]), fill)
        out[: min(len(values), n_frames)] = values[:n_frames]
        return out

    fft_size = pyworld.get_cheaptrick_fft_size(SAMPLE_RATE)
    freqs = np.linspace(0, SAMPLE_RATE / 2, fft_size // 2 + 1)
    edge = _BAND_EDGE_HZ * voice.formant_scale
    # power envelope: a slope of D dB/octave above the edge
    slope = 10 ** (-voice.high_slope_db_per_octave * np.log2(np.maximum(freqs, edge) / edge) / 10)
    sp = _to_project_rate(padded(envelope, 1e-12), rate, fft_size, voice.formant_scale) * slope[None]
    ap = _to_project_rate(padded(aperiodicity, 1.0), rate, fft_size, voice.formant_scale)
    ap[:, freqs > edge] = np.maximum(ap[:, freqs > edge], 0.9)  # breathy, noise-like top octaves
    if voice.breathiness:  # air through the whole voice, more of it higher up
        air = voice.breathiness * np.clip(freqs / 3000.0, 0.2, 1.0)
        ap = ap + (1 - ap) * air[None]
    voiced = pyworld.synthesize(
        np.ascontiguousarray(target),
        np.ascontiguousarray(np.maximum(sp, 1e-16)),
        np.ascontiguousarray(np.clip(ap, 0, 1)),
        SAMPLE_RATE,
        frame_period=FRAME_MS,
    )
    out = np.zeros(n_samples, np.float32)
    count = min(n_samples, len(voiced))
    out[:count] = voiced[:count]
    return out
