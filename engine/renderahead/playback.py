"""The render-ahead source, run inside the audio callback: the song's four fused stems and its dry
mix at the playhead, read from the StemCache, with the file player's seek, loop and end of file.

Fusion happens here, per block: each stem is the weighted sum of the models' cached stems, with
the weights normalised per stem as everywhere else (`fusion_matrix`). A weight change made
between two blocks is therefore heard from the next block on.
"""

import numpy as np

from dannasep.engine.constants import SOURCES
from dannasep.engine.control.state import EngineState
from dannasep.engine.renderahead.cache import StemCache
from dannasep.engine.streaming.mixer import N_STRIPS
from dannasep.engine.streaming.player import FilePlayer

QUALITY_NONE, QUALITY_QUICK, QUALITY_FINAL = 0, 1, 2


def fusion_matrix(state: EngineState, models: tuple[str, ...]) -> np.ndarray:
    """(models, 4, 1) float32: the state's fusion weights, normalised per stem."""
    weights = state.normalised_weights()
    rows = [weights.get(model, (0.0,) * len(SOURCES)) for model in models]
    return np.asarray(rows, dtype=np.float32).reshape(len(models), len(SOURCES), 1)


class CachePlayer(FilePlayer):
    """Frames (n, 5, 2): the four fused stems, then the dry mix. `play_block` plays a block only
    when the cache holds all of it; otherwise it consumes nothing and says so."""

    def __init__(self, audio: np.ndarray, cache: StemCache, weights: np.ndarray, max_block: int):
        """audio: (frames, 2) float32, the song; weights: see `fusion_matrix`."""
        super().__init__(audio, max_block, frame=(N_STRIPS, 2))
        self.cache = cache
        self.weights = weights
        """Replaced whole (never edited in place) by whoever changes the weights."""
        self._scratch = np.zeros((max_block, len(SOURCES), 2), dtype=np.float32)
        self._missing = False
        self.quality = QUALITY_FINAL
        """Of the last block played: QUALITY_FINAL, or QUALITY_QUICK if any of it came from a quick chunk."""

    @property
    def wanted(self) -> int:
        """The song position the next block starts at (a pending seek's target)."""
        return self._jump_to if self._jump_to is not None else self.position

    def _copy(self, out: np.ndarray, start: int) -> None:
        n = out.shape[0]
        avail = max(0, min(n, self.length - start))
        out[:avail, len(SOURCES)] = self.audio[start : start + avail]
        out[avail:] = 0.0
        if not avail:
            return
        quality = self.cache.fuse_into(start, out[:avail, : len(SOURCES)], self.weights, self._scratch)
        if quality == QUALITY_NONE:
            if out.base is self._other:  # what a seek fades out from may be gone: fade from silence
                out[:avail] = 0.0
            else:
                self._missing = True
        self.quality = min(self.quality, quality)

    def play_block(self, out: np.ndarray) -> bool:
        """Fill `out` (n, 5, 2) with the next frames and advance; False, with the position and any
        pending seek unchanged, when the cache does not hold them yet."""
        saved = (self.position, self._jump_to, self._fade_left, self._fade_from, self.ended)
        self._missing = False
        self.quality = QUALITY_FINAL
        self.fill(out)
        if self._missing:
            self.position, self._jump_to, self._fade_left, self._fade_from, self.ended = saved
            return False
        return True
