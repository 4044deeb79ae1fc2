"""Training examples built from stems held in memory, on the training device.

On a GPU a step of a live-size network takes milliseconds, far less than reading and augmenting
its excerpts from WAV files in loader processes; on a 2-core CPU loader processes compete with
the network for the cores. So the stems of every training track are read once into one tensor on
the device (int16 when every file is PCM16, as `dannasep synth` and MUSDB18-HQ write them: exact
at half the memory; float32 otherwise), and each batch is sliced out of it with the same draws as
`RandomMixDataset` (`draw_example`): the examples are identical, only faster to make.
"""

import numpy as np
import soundfile as sf
import torch

from dannasep.engine.constants import SOURCES
from dannasep.training.data.datasets import RandomMixDataset, SourceDraw
from dannasep.training.data.musdb import Track

PCM16_SCALE = 1.0 / 32768.0


class InMemoryRemixer:
    """The examples of `dataset`, cut in batches from its tracks held on `device`.

    Memory: 2 bytes per sample of every stem for PCM16 files (a 20-s stereo track of four stems
    is 14 MB), 4 bytes otherwise.
    Speed perturbation needs resampling on the CPU and is not offered here.
    """

    def __init__(self, dataset: RandomMixDataset, device: str | torch.device):
        if dataset.augment.speed_probability > 0:
            raise ValueError("speed perturbation is not available with in-memory data")
        self.dataset = dataset
        tracks = dataset.tracks
        longest = max(t.frames for t in tracks)
        pcm16 = all(_is_pcm16(track, source) for track in tracks for source in SOURCES)
        self.scale = PCM16_SCALE if pcm16 else 1.0
        dtype = "int16" if pcm16 else "float32"
        stems = torch.zeros((len(tracks), len(SOURCES), 2, longest), dtype=getattr(torch, dtype))
        for i, track in enumerate(tracks):
            for j, source in enumerate(SOURCES):
                stems[i, j, :, : track.frames] = torch.from_numpy(_read(track, source, dtype))
        self.stems = stems.to(device)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def batch(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Examples `indices` of this epoch: mixtures (B, 2, frames), sources (B, 4, 2, frames) float32."""
        sources = torch.stack([self._example(i) for i in indices])
        return sources.sum(dim=1), sources

    def _example(self, index: int) -> torch.Tensor:
        return torch.stack([self._source(j, draw) for j, draw in enumerate(self.dataset.draws(index))])

    def _source(self, source: int, draw: SourceDraw) -> torch.Tensor:
        frames = self.dataset.frames
        available = max(0, min(frames, self.dataset.tracks[draw.track].frames - draw.start))
        excerpt = self.stems[draw.track, source, :, draw.start : draw.start + available].float()
        if available < frames:
            excerpt = torch.nn.functional.pad(excerpt, (0, frames - available))
        if draw.swap:
            excerpt = excerpt.flip(0)
        scale = self.scale * draw.gain * (-1.0 if draw.flip else 1.0)
        return excerpt * scale


def _is_pcm16(track: Track, source: str) -> bool:
    return sf.info(str(track.path(source))).subtype == "PCM_16"


def _read(track: Track, source: str, dtype: str) -> np.ndarray:
    """(2, frames) samples of one stem in `dtype` (int16 only for PCM16 files)."""
    data, _ = sf.read(str(track.path(source)), dtype=dtype, always_2d=True)
    return np.ascontiguousarray(data.T)
