"""Drums from Debian's Hydrogen kits: real multi-velocity recordings instead of the GM kit.

`drumkit.xml` names each instrument; the General MIDI keys the song generator uses are mapped to
kit instruments by name. A kit is usable when it has at least a kick, a snare and a closed hi-hat
(that rules out the hand-percussion and djembe kits); notes with no instrument in the kit are
dropped, except that a missing ride or pedal hat falls back to the closed hat. Older kits (Millo
Drums, rumpf) name one sample per instrument instead of velocity layers; they are read too.
"""

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.training.synth import music

KIT_ROOTS = (Path("/usr/share/hydrogen/data/drumkits"),)
_REQUIRED = (music.KICK, music.SNARE, music.CLOSED_HAT)
_FALLBACK = {music.RIDE: music.CLOSED_HAT, music.PEDAL_HAT: music.CLOSED_HAT}


def _is_hat(name: str) -> bool:
    return bool(re.search(r"\bhh\b|hat|hi-?hat", name))


_MATCHERS: tuple[tuple[int, object], ...] = (
    (music.KICK, lambda n: bool(re.search(r"kick|bass ?drum", n))),
    (music.SIDE_STICK, lambda n: bool(re.search(r"stick|rim click", n))),
    (music.SNARE, lambda n: "snare" in n and not re.search(r"roll|rim|stick", n)),
    (music.CLAP, lambda n: "clap" in n),
    (music.PEDAL_HAT, lambda n: _is_hat(n) and bool(re.search(r"pedal|\bpd\b", n))),
    (music.OPEN_HAT, lambda n: _is_hat(n) and bool(re.search(r"open|\bop\b", n)) and "semi" not in n),
    (music.CLOSED_HAT, lambda n: _is_hat(n) and bool(re.search(r"clos|\bcl\b", n))),
    (music.CRASH, lambda n: "crash" in n and "ride" not in n),
    (music.RIDE, lambda n: "ride" in n and not re.search(r"bell|cup|crash", n)),
    (music.LOW_TOM, lambda n: "tom" in n and bool(re.search(r"low|floor", n))),
    (music.MID_TOM, lambda n: "tom" in n and bool(re.search(r"mid|middle|tom 2", n))),
    (music.HIGH_TOM, lambda n: "tom" in n and bool(re.search(r"\bhi\b|high|tom 1", n))),
)


@dataclass(frozen=True)
class Layer:
    path: Path
    low: float
    high: float
    gain: float


@dataclass(frozen=True)
class Instrument:
    name: str
    layers: tuple[Layer, ...]
    gain: float
    pan_left: float
    pan_right: float


@dataclass(frozen=True)
class HydrogenKit:
    name: str
    license: str
    instruments: dict[int, Instrument]

    def render(self, notes, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Place a sample for every note; returns float32 (n_samples, 2)."""
        out = np.zeros((n_samples, 2), np.float32)
        for note in notes:
            instrument = self.instruments.get(note.pitch) or self.instruments.get(_FALLBACK.get(note.pitch, -1))
            start = round(note.start * SAMPLE_RATE)
            if instrument is None or start >= n_samples:
                continue
            level = note.velocity / 127
            layers = [layer for layer in instrument.layers if layer.low <= level <= layer.high] or list(
                instrument.layers
            )
            layer = layers[int(rng.integers(len(layers)))]
            sample = _load_sample(layer.path)
            if note.pitch == music.CLOSED_HAT or note.pitch == music.PEDAL_HAT:
                sample = sample[: int(0.25 * SAMPLE_RATE)]  # a closed hat rings short
            gain = instrument.gain * layer.gain * (0.35 + 0.65 * level)
            pan = np.array([instrument.pan_left, instrument.pan_right], np.float32)
            count = min(len(sample), n_samples - start)
            out[start : start + count] += gain * sample[:count] * pan
        return out


def _text(element, tag: str, namespace: str, default: str = "") -> str:
    found = element.find(namespace + tag)
    return found.text.strip() if found is not None and found.text else default


def load_kit(kit_dir: Path) -> HydrogenKit:
    root = ET.parse(kit_dir / "drumkit.xml").getroot()
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    mapped: dict[int, Instrument] = {}
    for element in root.iter(namespace + "instrument"):
        name = _text(element, "name", namespace).lower()
        layers = tuple(
            Layer(
                kit_dir / _text(layer, "filename", namespace),
                float(_text(layer, "min", namespace, "0")),
                float(_text(layer, "max", namespace, "1")),
                float(_text(layer, "gain", namespace, "1")),
            )
            for layer in element.iter(namespace + "layer")
            if (kit_dir / _text(layer, "filename", namespace)).is_file()
        )
        direct = _text(element, "filename", namespace)
        if not layers and direct and (kit_dir / direct).is_file():  # the old one-sample-per-instrument format
            layers = (Layer(kit_dir / direct, 0.0, 1.0, 1.0),)
        if not name or not layers:
            continue
        instrument = Instrument(
            name,
            layers,
            float(_text(element, "gain", namespace, "1")) * float(_text(element, "volume", namespace, "1")),
            float(_text(element, "pan_L", namespace, "1")),
            float(_text(element, "pan_R", namespace, "1")),
        )
        for key, matches in _MATCHERS:
            if key not in mapped and matches(name):
                mapped[key] = instrument
                break
    return HydrogenKit(_text(root, "name", namespace, kit_dir.name), _text(root, "license", namespace), mapped)


@cache
def usable_kits() -> tuple[HydrogenKit, ...]:
    """Every installed kit that has a kick, a snare and a closed hi-hat, sorted by name."""
    kits = []
    for kit_root in KIT_ROOTS:
        for kit_dir in sorted(kit_root.glob("*/drumkit.xml")):
            try:
                kit = load_kit(kit_dir.parent)
            except (ET.ParseError, ValueError):
                continue
            if all(key in kit.instruments for key in _REQUIRED):
                kits.append(kit)
    return tuple(sorted(kits, key=lambda kit: kit.name))


@cache
def _load_sample(path: Path) -> np.ndarray:
    """float32 (frames, 2) at the project rate."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, axis=1)
    audio = audio[:, :2]
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)
    return audio
