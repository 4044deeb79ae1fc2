"""One synthetic song: plan, pick its sound sources, render every part, produce, mix into four
PCM16 stems.

Every choice (palette, SoundFont, drum source, synth patches, effects, voice) is drawn from the
song's seed and recorded in `details`, which goes into song.json, so a set can be audited and
filtered after the fact.
"""

from dataclasses import dataclass

import numpy as np

from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.training.synth import drum_synth, effects, mixing, oscillators, vocals
from dannasep.training.synth import drums as hydrogen
from dannasep.training.synth.fluid import FluidRenderer
from dannasep.training.synth.music import GENRES, KEY_NAMES, SongPlan, plan_song
from dannasep.training.synth.palette import get_palette

FESTIVAL_SHARE = 0.7
# drum source shares (Hydrogen kit, synthesised kit); the rest is the SoundFont's GM kit
_DRUM_SHARES = {"electronic": (0.3, 0.5), "hip-hop": (0.35, 0.45)}
_DEFAULT_DRUM_SHARES = (0.5, 0.15)
_SYNTH_ROLES = {"synth": "lead", "lead": "lead", "pad": "pad"}
_AMP_SHARE = {"rock": 0.85}


@dataclass(frozen=True)
class Song:
    """Rendered stems, int16 (n_samples, 2) each, keyed by source name in MUSDB order."""

    name: str
    plan: SongPlan
    stems: dict[str, np.ndarray]
    details: dict

    @property
    def mixture(self) -> np.ndarray:
        """The exact integer sum of the stems, int16 (n_samples, 2)."""
        total = sum(stem.astype(np.int32) for stem in self.stems.values())
        return total.astype(np.int16)


def song_name(plan: SongPlan) -> str:
    key = KEY_NAMES[plan.key].replace("#", "sharp")
    return f"Synth {plan.seed:010d} - {plan.genre} in {key}{'m' if plan.minor else ''} at {plan.tempo:.0f}"


def _drums(plan: SongPlan, renderer: FluidRenderer, palette, n: int, rng: np.random.Generator):
    kits = [kit for kit in hydrogen.usable_kits() if palette.allows_kit(kit.name)]
    hydrogen_share, synth_share = _DRUM_SHARES.get(plan.genre, _DEFAULT_DRUM_SHARES)
    draw = rng.random()
    if kits and draw < hydrogen_share:
        kit = kits[int(rng.integers(len(kits)))]
        return kit.render(plan.drums.notes, n, rng), {"source": "hydrogen", "kit": kit.name}
    if draw < hydrogen_share + synth_share:
        synth_kit = drum_synth.random_kit(rng)
        return synth_kit.render(plan.drums.notes, n, rng), {"source": "synthesised", **synth_kit.describe()}
    return renderer.render(plan.drums, n), {"source": "soundfont GM kit"}


def _instrument(part, role: str, share: float, renderer: FluidRenderer, n: int, rng) -> tuple[np.ndarray, dict]:
    """A mono part from a numpy synth (with probability `share`) or the SoundFont."""
    if rng.random() < share:
        patch = oscillators.random_patch(role, rng)
        return oscillators.render(part.notes, n, patch), {"source": "numpy synth", "patch": patch.describe()}
    return renderer.render(part, n).mean(axis=1), {"source": "soundfont", "program": part.program}


def render_song(seed: int, seconds: float, use_festival: bool | None = None, palette: str = "train") -> Song:
    """Render a deterministic song for `seed`, bit-exact on every call (on a fresh FluidSynth).

    The sound sources come from `palette` ('train' or the held-out 'ood'). `use_festival` forces
    the vocal path (None: festival+WORLD for about 70 % if installed, a GM voice patch otherwise).
    """
    plan = plan_song(seed, seconds)
    genre = GENRES[plan.genre]
    rng = np.random.default_rng([seed, 1])
    n = round(seconds * SAMPLE_RATE)
    sources = get_palette(palette)
    family, soundfont = sources.soundfonts[int(rng.integers(len(sources.soundfonts)))]
    details: dict = {
        "seed": seed,
        "palette": palette,
        "genre": plan.genre,
        "tempo_bpm": plan.tempo,
        "key": plan.key_name,
        "groove": plan.groove,
        "bass_pattern": plan.bass_pattern,
        "sections": list(plan.sections),
        "progression": list(plan.progression),
        "swing": plan.swing,
        "soundfont": {"family": family, "file": soundfont.name},
    }

    with FluidRenderer(soundfont) as renderer:
        drums, details["drums"] = _drums(plan, renderer, sources, n, rng)
        bass, details["bass"] = _instrument(plan.bass, "bass", genre.synth_share, renderer, n, rng)
        other = np.zeros((n, 2), np.float32)
        details["other"] = []
        for part in plan.others:
            # synth-like parts get a numpy synth often even in guitar genres: their GM patches are few
            share = max(genre.synth_share, 0.4) if part.name in _SYNTH_ROLES else 0.0
            rendered, info = _instrument(part, _SYNTH_ROLES.get(part.name, "lead"), share, renderer, n, rng)
            if part.name == "guitar" and rng.random() < _AMP_SHARE.get(plan.genre, 0.3):
                info["amp"] = effects.amp_chain(rng)
                rendered = effects.apply_chain(rendered, info["amp"])
            position = float(rng.uniform(-0.5, 0.5))
            level = 10 ** (rng.uniform(-6, 0) / 20) / (np.sqrt(np.mean(rendered**2)) + 1e-9)
            other += mixing.pan(rendered, position) * level
            details["other"].append({"family": part.name, "style": part.style, "pan": position, **info})

        sing = vocals.festival_available() if use_festival is None else use_festival
        lead = None
        if sing and (use_festival or rng.random() < FESTIVAL_SHARE):
            voice = vocals.random_voice(rng, plan.vocals.notes)
            try:
                lead = vocals.sing(plan.vocals.notes, n, voice, rng)
                details["vocals"] = {"method": "festival+WORLD", **voice.describe()}
            except vocals.SingingError as error:  # festival crashes on a few scores; the song still gets a voice
                details["vocals_note"] = str(error)
        if lead is None:
            lead = renderer.render(plan.vocals, n, pitch_wobble_cents=float(rng.uniform(15, 40))).mean(axis=1)
            details["vocals"] = {"method": f"GM program {plan.vocals.program}"}
    vocal = mixing.pan(lead, float(rng.uniform(-0.1, 0.1)))

    dry = {"drums": drums, "bass": mixing.pan(bass, 0.0), "other": other, "vocals": vocal}
    beat = 60.0 / plan.tempo
    chains = {name: effects.stem_chain(name, rng, beat) for name in SOURCES}
    produced = {name: effects.apply_chain(dry[name], chains[name]) for name in SOURCES}
    leveled, levels = mixing.level(produced, rng)
    bus = {"threshold_db": round(float(rng.uniform(-24, -14)), 1), "ratio": round(float(rng.uniform(1.2, 3)), 2)}
    bus["release_ms"] = round(float(rng.uniform(50, 300)), 1)
    if rng.random() < 0.6:
        leveled = mixing.bus_compress(leveled, **bus)
    else:
        bus = {}
    stems, scale = mixing.quantise(leveled)
    details["effects"] = {"stems": chains, "bus_compressor": bus}
    details.update(levels)
    details.update(scale)
    return Song(song_name(plan), plan, stems, details)
