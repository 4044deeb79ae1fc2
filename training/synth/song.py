"""One synthetic song: plan, render every part, mix into four PCM16 stems."""

from dataclasses import dataclass

import numpy as np

from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.training.synth import drums as hydrogen
from dannasep.training.synth import mixing, vocals
from dannasep.training.synth.fluid import FluidRenderer
from dannasep.training.synth.music import KEY_NAMES, SongPlan, plan_song

HYDROGEN_SHARE = 0.5
FESTIVAL_SHARE = 0.7


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
    return f"Synth {plan.seed:010d} - {plan.groove} in {key}{'m' if plan.minor else ''} at {plan.tempo:.0f}"


def render_song(seed: int, seconds: float, use_festival: bool | None = None) -> Song:
    """Render a deterministic song for `seed`, bit-exact on every call (on a fresh FluidSynth).

    Drums come from a random Hydrogen kit for about half the songs (GM kit otherwise); vocals are
    sung by festival+WORLD for about 70 % (a General MIDI voice patch otherwise). `use_festival`
    forces the vocal path (None: random, if festival and pyworld are installed).
    """
    plan = plan_song(seed, seconds)
    rng = np.random.default_rng([seed, 1])
    n = round(seconds * SAMPLE_RATE)
    details: dict = {
        "seed": seed,
        "tempo_bpm": plan.tempo,
        "key": plan.key_name,
        "groove": plan.groove,
        "progression": list(plan.progression),
        "swing": plan.swing,
    }

    with FluidRenderer() as renderer:
        kits = hydrogen.usable_kits()
        if kits and rng.random() < HYDROGEN_SHARE:
            kit = kits[int(rng.integers(len(kits)))]
            drums = kit.render(plan.drums.notes, n, rng)
            details["drums"] = f"Hydrogen kit {kit.name}"
        else:
            drums = renderer.render(plan.drums, n)
            details["drums"] = "General MIDI kit (FluidR3)"

        bass = renderer.render(plan.bass, n)
        details["bass"] = f"GM program {plan.bass.program}"

        other = np.zeros((n, 2), np.float32)
        details["other"] = []
        for part in plan.others:
            position = float(rng.uniform(-0.5, 0.5))
            rendered = renderer.render(part, n)
            level = 10 ** (rng.uniform(-6, 0) / 20) / (np.sqrt(np.mean(rendered**2)) + 1e-9)
            other += mixing.pan(rendered.mean(axis=1), position) * level
            details["other"].append(
                {"family": part.name, "program": part.program, "style": part.style, "pan": position}
            )

        sing = vocals.festival_available() if use_festival is None else use_festival
        lead = None
        if sing and (use_festival or rng.random() < FESTIVAL_SHARE):
            voice = vocals.random_voice(rng)
            try:
                lead = vocals.sing(plan.vocals.notes, n, voice, rng)
                details["vocals"] = {"method": "festival+WORLD", "formant_scale": voice.formant_scale}
            except vocals.SingingError as error:  # festival crashes on a few scores; the song still gets a voice
                details["vocals_note"] = str(error)
        if lead is None:
            lead = renderer.render(plan.vocals, n, pitch_wobble_cents=float(rng.uniform(15, 40))).mean(axis=1)
            details["vocals"] = {"method": f"GM program {plan.vocals.program}"}
    vocal = mixing.pan(lead, float(rng.uniform(-0.1, 0.1)))

    dry = {"drums": drums, "bass": mixing.pan(bass.mean(axis=1), 0.0), "other": other, "vocals": vocal}
    wet = {name: mixing.reverb(dry[name], rng) for name in SOURCES}
    stems, levels = mixing.level_and_quantise(wet, rng)
    details.update(levels)
    return Song(song_name(plan), plan, stems, details)
