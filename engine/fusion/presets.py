"""Fusion presets: per-source weights over the models, as data in presets/fusion/<name>.toml.

    [weights.<architecture>]       one table per model
    drums = 0.2                    a weight per source; missing sources count as 0

At load, weights are checked (known architecture and sources, finite, >= 0, at least one model
weighs something) and normalised by `engine.fusion.weights.normalise_weights`. A model whose
weights are all zero is not run. An optional [live] table says how the live engine runs the
preset (engine.streaming.timing).
"""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from dannasep.engine.constants import ARCHITECTURES, SOURCES
from dannasep.engine.errors import PresetError
from dannasep.engine.fusion.weights import contributing_models, normalise_weights
from dannasep.engine.paths import fusion_presets_dir


@dataclass(frozen=True)
class FusionPreset:
    """Normalised fusion weights. ``weights[arch][i]`` is the weight of `arch` for SOURCES[i]."""

    name: str
    weights: Mapping[str, tuple[float, ...]]
    description: str = ""
    path: Path | None = field(default=None, compare=False)

    @property
    def models(self) -> list[str]:
        """Models that contribute to at least one source, in the preset's order."""
        return contributing_models(self.weights)

    def weight(self, architecture: str, source: str) -> float:
        return self.weights.get(architecture, (0.0,) * len(SOURCES))[SOURCES.index(source)]

    def restricted_to(self, sources: tuple[str, ...]) -> "FusionPreset":
        """The same preset with every other source's weights zeroed: models needed only for
        sources nobody asked for are then not run. Kept sources stay normalised."""
        keep = [s in sources for s in SOURCES]
        weights = {
            arch: tuple(w if k else 0.0 for w, k in zip(row, keep, strict=True)) for arch, row in self.weights.items()
        }
        return FusionPreset(self.name, weights, self.description, self.path)

    def with_weight(self, architecture: str, source: str, value: float) -> "FusionPreset":
        """A copy with one raw weight changed, the source's column renormalised."""
        raw = {arch: list(row) for arch, row in self.weights.items()}
        raw.setdefault(architecture, [0.0] * len(SOURCES))[SOURCES.index(source)] = value
        return make_preset(self.name, raw, self.description)


def make_preset(name: str, raw: Mapping[str, object], description: str = "", path: Path | None = None) -> FusionPreset:
    """Validate and normalise raw weights: {arch: {source: w} or [w_drums, w_bass, w_other, w_vocals]}."""
    where = str(path or name)
    if not raw:
        raise PresetError(f"{where}: no [weights.<model>] tables")
    rows: dict[str, list[float]] = {}
    for arch, entry in raw.items():
        if arch not in ARCHITECTURES:
            raise PresetError(f"{where}: unknown model {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}")
        if isinstance(entry, Mapping):
            unknown = sorted(set(entry) - set(SOURCES))
            if unknown:
                raise PresetError(f"{where}: [weights.{arch}] unknown sources {unknown}; use {list(SOURCES)}")
            values = [entry.get(s, 0.0) for s in SOURCES]
        elif isinstance(entry, (list, tuple)) and len(entry) == len(SOURCES):
            values = list(entry)
        else:
            raise PresetError(f"{where}: weights of {arch!r} must be a table of sources or 4 numbers")
        for source, w in zip(SOURCES, values, strict=True):
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                raise PresetError(f"{where}: weight {arch}.{source} = {w!r}; weights must be finite numbers >= 0")
        rows[arch] = [float(w) for w in values]
    if not contributing_models(rows):
        raise PresetError(f"{where}: every weight is 0; at least one model must weigh a source")
    return FusionPreset(name, normalise_weights(rows), description, path)


def preset_path(name_or_path: str | Path) -> Path:
    """The file of a preset given by name (presets/fusion/<name>.toml) or by path to a TOML file."""
    candidate = Path(name_or_path)
    path = candidate if candidate.suffix == ".toml" else fusion_presets_dir() / f"{name_or_path}.toml"
    if not path.is_file():
        raise PresetError(f"no fusion preset {str(name_or_path)!r}; available: {', '.join(list_presets())}")
    return path


def read_preset_toml(path: Path) -> dict:
    """The parsed TOML of a preset file."""
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path}: not valid TOML ({exc})") from exc


def load_preset(name_or_path: str | Path) -> FusionPreset:
    """Load a preset by name (presets/fusion/<name>.toml) or by path to a TOML file."""
    path = preset_path(name_or_path)
    data = read_preset_toml(path)
    return make_preset(path.stem, data.get("weights", {}), str(data.get("description", "")), path)


def list_presets() -> list[str]:
    return sorted(p.stem for p in fusion_presets_dir().glob("*.toml"))


def preset_to_toml(preset: FusionPreset, comment: str = "") -> str:
    """TOML text for a preset (used by fusion-search and the GUI to save user presets)."""
    lines = [f"# {line}" for line in comment.splitlines()] if comment else []
    lines.append(f"description = {json.dumps(preset.description)}")
    for arch, row in preset.weights.items():
        lines.append("")
        lines.append(f"[weights.{arch}]")
        lines.extend(f"{s} = {round(w, 6)}" for s, w in zip(SOURCES, row, strict=True))
    return "\n".join(lines) + "\n"
