"""Which sound sources a song may use: the training palette, or the held-out one.

One SoundFont family (MuseScore General) and two Hydrogen kits (one acoustic, one electronic) never
appear in training songs. The `ood` palette renders only with them, so a test set made with it
measures how a model copes with instruments it has never heard. The numpy synths (oscillators
and synthesised drums) are shared by both palettes: they are parameterised per song, so no two
songs share a patch anyway.
"""

from dataclasses import dataclass
from pathlib import Path

from dannasep.engine.errors import DannaSepError

PALETTES = ("train", "ood")
_SF2, _SF3 = Path("/usr/share/sounds/sf2"), Path("/usr/share/sounds/sf3")
# family -> candidate files; the sf2 files load fast, the Vorbis-compressed sf3 ones take seconds
TRAIN_SOUNDFONTS = {
    "FluidR3": (_SF2 / "FluidR3_GM.sf2",),
    "TimGM6mb": (_SF2 / "TimGM6mb.sf2",),
    "FluidR3Mono": (_SF3 / "FluidR3Mono_GM.sf3",),
}
HELD_OUT_SOUNDFONTS = {"MuseScore General": (_SF3 / "MuseScore_General_Lite.sf3", _SF3 / "MuseScore_General.sf3")}
HELD_OUT_KITS = frozenset({"The Black Pearl 1.0", "TR808EmulationKit"})


class PaletteError(DannaSepError):
    """A palette has no sound source installed."""


@dataclass(frozen=True)
class Palette:
    name: str
    soundfonts: tuple[tuple[str, Path], ...]  # (family, file), installed ones only
    kit_names: frozenset[str] | None  # allowed Hydrogen kits; None: all but the held-out ones

    def allows_kit(self, kit_name: str) -> bool:
        if self.kit_names is None:
            return kit_name not in HELD_OUT_KITS
        return kit_name in self.kit_names


def _installed(families: dict[str, tuple[Path, ...]]) -> tuple[tuple[str, Path], ...]:
    found = []
    for family, candidates in families.items():
        for path in candidates:
            if path.is_file():
                found.append((family, path))
                break
    return tuple(found)


def get_palette(name: str) -> Palette:
    """The installed sources of palette `name`; raises PaletteError if it has no SoundFont."""
    if name not in PALETTES:
        raise PaletteError(f"unknown palette {name!r}; choose one of {', '.join(PALETTES)}")
    if name == "train":
        palette = Palette(name, _installed(TRAIN_SOUNDFONTS), None)
        package = "fluid-soundfont-gm"
    else:
        palette = Palette(name, _installed(HELD_OUT_SOUNDFONTS), HELD_OUT_KITS)
        package = "musescore-general-soundfont-small"
    if not palette.soundfonts:
        raise PaletteError(f"the {name!r} palette has no SoundFont installed; run: apt-get install {package}")
    return palette
