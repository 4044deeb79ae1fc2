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


def user_cache_dir() -> Path:
    """DANNASEP_CACHE, else the user's cache folder. On disk rather than in the temporary folder,
    which may be a tmpfs held in memory: exported graphs and the render-ahead cache files live here."""
    override = os.environ.get("DANNASEP_CACHE")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir as platform_cache_dir

    return Path(platform_cache_dir("dannasep"))
