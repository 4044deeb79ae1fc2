"""Which weights a command uses when it is given no --weights, or `shipped`, a set's name or a folder.

Offline paths (separate, gui export, eval, bench) take the first installed set that holds every
network the preset needs at paper size, else the shipped live-size weights. The streaming path
and playback (live, the app; render-ahead for files) keep the shipped live-size networks unless
told otherwise: paper-size networks cannot keep up with a live stream on a laptop CPU, and
render-ahead falls back to streaming them where its render cannot keep ahead.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dannasep.engine.errors import DannaSepError
from dannasep.engine.paths import shipped_weights_dir
from dannasep.engine.weights.catalog import CATALOG
from dannasep.engine.weights.install import installed_sets
from dannasep.engine.weights.location import weights_home
from dannasep.engine.weights.sidecars import find_checkpoints

SHIPPED = "shipped"
STREAMING_NOTE = (
    "playback keeps live-size networks: paper-size ones stream too slowly, and render-ahead "
    "plays them only where its render keeps ahead (--size paper forces them)"
)


@dataclass(frozen=True)
class WeightsChoice:
    folder: Path | None
    """None: the shipped weights (presets/weights)."""
    size: str | None
    label: str
    note: str = ""

    @property
    def name(self) -> str:
        """`shipped`, the set's name or the folder's."""
        return SHIPPED if self.folder is None else self.folder.name

    @property
    def short(self) -> str:
        return f"{self.name} ({self.size or 'live'} size)"

    def describe(self) -> str:
        return f"weights: {self.label}" + (f"; {self.note}" if self.note else "")


def _sizes(folder: Path) -> dict[str, set[str]]:
    """architecture -> the size names (``<arch>-<size>``) of its checkpoints in `folder`."""
    return {arch: {p.stem.split("-", 1)[-1] for p in paths} for arch, paths in find_checkpoints(folder).items()}


def covers(folder: Path, models: Iterable[str], size: str) -> bool:
    sizes = _sizes(folder)
    return all(size in sizes.get(arch, set()) for arch in models)


def _shipped(size: str | None, note: str = "") -> WeightsChoice:
    label = f"shipped ({size or 'live'} size, trained on synthetic songs, {shipped_weights_dir()})"
    return WeightsChoice(None, size, label, note)


def _installed(folder: Path, size: str | None) -> WeightsChoice:
    size = size or "paper"
    return WeightsChoice(folder, size, f"{folder.name} ({size} size, {folder})")


def choose_weights(
    option: str | Path | None, models: Iterable[str], size: str | None = None, streaming: bool = False
) -> WeightsChoice:
    """The weights for a preset whose networks are `models`, from a --weights value (None, `shipped`,
    an installed set's name or a folder) and a --size (None: paper for installed sets, live shipped)."""
    models = list(models)
    if option is not None:
        text = str(option)
        if text == SHIPPED:
            return _shipped(size)
        if (weights_home() / text).is_dir() and "/" not in text and not text.startswith("."):
            return _installed(weights_home() / text, size)
        path = Path(text).expanduser()
        if path.is_dir():
            return WeightsChoice(path, size, f"{path}" + (f" ({size} size)" if size else ""))
        known = ", ".join([SHIPPED, *(p.name for p in installed_sets())])
        raise DannaSepError(f"--weights {text}: not a folder nor an installed weights set (installed: {known})")
    if streaming and size != "paper":  # --size paper is how the stream is told otherwise
        return _shipped(size, STREAMING_NOTE)
    if size in (None, "paper"):
        for folder in installed_sets():
            if covers(folder, models, "paper"):
                return _installed(folder, "paper")
    missing = [arch for arch in models if arch not in find_checkpoints(shipped_weights_dir())]
    for arch in missing:
        offer = [name for name, entry in CATALOG.items() if arch in entry.architectures]
        if offer:
            raise DannaSepError(
                f"no {arch} weights are installed; get them with `dannasep weights get {offer[0]}`, "
                "or give --weights DIR"
            )
    return _shipped(size)
