"""Export from the render-ahead cache. When the offline plan has rendered the whole song with the
networks, weights and settings an offline export would use, the stems that export would compute are
the cache's per-model stems fused with the export's preset weights (fusion and overlap-add are both
linear), so the export only fuses and writes: no network runs. Torch-free, for the app's process.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dannasep.engine.audio.writer import AudioFormat, StemWriter, ensure_writable_folder
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.fusion.presets import FusionPreset
from dannasep.engine.renderahead.cache import StemCache
from dannasep.engine.separation.naming import OutputNaming

BLOCK_SECONDS = 10.0


@dataclass(frozen=True)
class RenderRecipe:
    """What decides the stems the offline path makes, besides the fusion weights."""

    models: frozenset[str]
    weights_dir: Path | None
    size: str | None
    precision: str
    wiener_iterations: int

    def differences(self, other: "RenderRecipe") -> list[str]:
        """The fields (by name) in which `other` differs."""
        return [name for name in self.__dataclass_fields__ if getattr(self, name) != getattr(other, name)]


def fusion_weights(preset: FusionPreset, models: tuple[str, ...]) -> np.ndarray:
    """(models, 4, 1) float32: `preset`'s weights (normalised, as the offline path fuses with them)
    for the cache's models, in the cache's order."""
    rows = [preset.weights.get(model, (0.0,) * len(SOURCES)) for model in models]
    return np.asarray(rows, dtype=np.float32).reshape(len(models), len(SOURCES), 1)


def write_from_cache(
    cache: StemCache,
    models: tuple[str, ...],
    preset: FusionPreset,
    source: Path,
    stems: tuple[str, ...],
    naming: OutputNaming,
    fmt: AudioFormat,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write `stems` of `source`, whose whole song's final stems the cache holds, to the files
    `Separator.separate_file` writes for the same naming and format; `preset` holds the fusion
    weights (restricted to `stems`). `progress(done, total)` may raise to cancel: the writer then
    removes its temporary files."""
    if cache.covered_until(0, final=True) < cache.length:
        raise ValueError("the cache does not hold the whole song's final stems")
    targets = naming.targets(source, stems)
    naming.check_free(targets)
    ensure_writable_folder(naming.out_dir)
    weights = fusion_weights(preset, models)
    block = round(BLOCK_SECONDS * SAMPLE_RATE)
    out = np.empty((block, len(SOURCES), 2), np.float32)
    scratch = np.empty_like(out)
    with StemWriter(targets, fmt) as writer:
        for start in range(0, cache.length, block):
            n = min(block, cache.length - start)
            cache.fuse_into(start, out[:n], weights, scratch[:n])
            writer.write_block(np.moveaxis(out[:n], 0, -1), SOURCES, last=start + n >= cache.length)
            if progress is not None:
                progress(start + n, cache.length)
    return list(targets.values())
