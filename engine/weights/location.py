"""Where installed weights live: the user's data folder (platformdirs, so XDG_DATA_HOME on Linux),
or DANNASEP_WEIGHTS when set. Each installed set is one sub-folder named after it."""

import os
from pathlib import Path

from platformdirs import user_data_path

ENV_OVERRIDE = "DANNASEP_WEIGHTS"


def weights_home() -> Path:
    """The folder holding every installed weights set (it may not exist yet)."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return Path(override).expanduser()
    # appauthor=False: no vendor folder level on Windows; roaming data is not wanted for GBs
    return user_data_path("dannasep", appauthor=False) / "weights"


def downloads_dir() -> Path:
    """Where downloads in progress are kept (gdown's ``.part`` files, resumed by the next `get`)."""
    return weights_home() / ".downloads"


def hash_ledger_path() -> Path:
    """The sha256 each unpublished-hash file had when first downloaded (see `ledger`)."""
    return weights_home() / "first-downloads.json"
