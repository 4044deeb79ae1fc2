"""Where the shipped data lives.

presets/ sits beside engine/ in the source tree (the setup script installs the project in editable
mode). DANNASEP_PRESETS overrides it, e.g. for a packaged install or a user's own preset folder.
"""

import os
from pathlib import Path


def presets_dir() -> Path:
    override = os.environ.get("DANNASEP_PRESETS")
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parent.parent / "presets"


def model_configs_dir() -> Path:
    return presets_dir() / "models"


def fusion_presets_dir() -> Path:
    return presets_dir() / "fusion"


def shipped_weights_dir() -> Path:
    return presets_dir() / "weights"
