"""Model configurations as data: presets/models/<architecture>-<name>.toml.

Each file has ``architecture``, ``description``, a ``[config]`` table of architecture fields
(unnamed fields keep the dataclass default) and an ``[inference]`` table of chunking settings.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from dannasep.engine.errors import PresetError
from dannasep.engine.models.base import (
    InferenceSettings,
    SeparationNet,
    architecture_class,
    build_model,
    config_from_dict,
)
from dannasep.engine.paths import model_configs_dir


@dataclass(frozen=True)
class ModelConfigFile:
    architecture: str
    name: str
    description: str
    config: Any
    inference: InferenceSettings
    path: Path

    @property
    def key(self) -> str:
        return f"{self.architecture}-{self.name}"

    def build(self) -> SeparationNet:
        return build_model(self.architecture, self.config, config_name=self.name, inference=self.inference)


def config_path(architecture: str, name: str) -> Path:
    return model_configs_dir() / f"{architecture}-{name}.toml"


def load_model_config(architecture_or_path: str | Path, name: str | None = None) -> ModelConfigFile:
    """Load ``presets/models/{architecture}-{name}.toml``, or a TOML file given by path."""
    path = Path(architecture_or_path) if name is None else config_path(str(architecture_or_path), name)
    if not path.is_file():
        available = ", ".join(sorted(p.stem for p in model_configs_dir().glob("*.toml")))
        raise PresetError(f"no model config {path}; available: {available}")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path}: not valid TOML ({exc})") from exc
    architecture = data.get("architecture")
    if not isinstance(architecture, str):
        raise PresetError(f"{path}: missing 'architecture' (one of xumx, unet, demucs, demucs_v2)")
    cls = architecture_class(architecture)
    stem = path.stem
    config_name = stem[len(architecture) + 1 :] if stem.startswith(architecture + "-") else stem
    config = config_from_dict(cls.config_class, data.get("config", {}), str(path))
    inference = config_from_dict(InferenceSettings, data.get("inference", {}), f"{path} [inference]")
    if not 0.0 <= inference.overlap < 1.0 or inference.segment_seconds <= 0 or inference.context_seconds < 0:
        raise PresetError(f"{path}: [inference] needs segment_seconds > 0, 0 <= overlap < 1, context >= 0")
    return ModelConfigFile(architecture, config_name, str(data.get("description", "")), config, inference, path)


def list_model_configs() -> list[ModelConfigFile]:
    return [load_model_config(p) for p in sorted(model_configs_dir().glob("*.toml"))]
