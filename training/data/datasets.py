"""Torch datasets for training and validation.

Training examples are random remixes (as the authors train): every source comes from an
independently chosen track and offset, is augmented, and the mixture is rebuilt as their sum.
Each example is a pure function of (seed, epoch, index), so a run is reproducible whatever the
number of worker processes, and a resumed run sees exactly the data it would have seen.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from dannasep.engine.constants import SOURCES
from dannasep.training.data.augment import AugmentConfig, augment_source, change_speed, speed_factor
from dannasep.training.data.musdb import Track


@dataclass(frozen=True)
class Example:
    """mixture (2, frames) and sources (4, 2, frames), float32 tensors."""

    mixture: torch.Tensor
    sources: torch.Tensor


def collate(examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch examples: mixtures (B, 2, frames), sources (B, 4, 2, frames)."""
    return torch.stack([e.mixture for e in examples]), torch.stack([e.sources for e in examples])


class RandomMixDataset(Dataset):
    """Random-track remixes of `frames`-long excerpts; `samples_per_track` examples per track per epoch.

    Args:
        tracks: the training tracks.
        frames: excerpt length in samples (per model: 6 s for X-UMX, 512 STFT frames for the
            U-Net, 10 s for Demucs in the paper configs).
        random_mix: draw each source from its own random track (False: one track for all).
    """

    def __init__(
        self,
        tracks: list[Track],
        frames: int,
        samples_per_track: int,
        seed: int,
        augment: AugmentConfig | None = None,
        random_mix: bool = True,
    ):
        if not tracks:
            raise ValueError("no training tracks")
        self.tracks = tracks
        self.frames = frames
        self.samples_per_track = samples_per_track
        self.seed = seed
        self.augment = augment or AugmentConfig()
        self.random_mix = random_mix
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.tracks) * self.samples_per_track

    def __getitem__(self, index: int) -> Example:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        shared = int(rng.integers(len(self.tracks)))
        sources = []
        for source in SOURCES:
            track = self.tracks[int(rng.integers(len(self.tracks))) if self.random_mix else shared]
            factor = speed_factor(rng, self.augment)
            span = int(np.ceil(self.frames * factor)) + 64
            start = int(rng.integers(max(1, track.frames - span)))
            excerpt = change_speed(track.read(source, start, span), factor, self.frames)
            sources.append(augment_source(excerpt, rng, self.augment))
        stacked = np.stack(sources)
        return Example(torch.from_numpy(stacked.sum(axis=0)), torch.from_numpy(stacked))


class SegmentDataset(Dataset):
    """Consecutive non-overlapping `frames`-long segments of whole tracks, unaugmented, with the
    true mixture rebuilt as the sum of the sources (validation and evaluation)."""

    def __init__(self, tracks: list[Track], frames: int):
        self.frames = frames
        self.items = [(t, start) for t in tracks for start in range(0, max(1, t.frames - frames + 1), frames)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Example:
        track, start = self.items[index]
        sources = track.read_sources(start, self.frames)
        return Example(torch.from_numpy(sources.sum(axis=0)), torch.from_numpy(sources))
