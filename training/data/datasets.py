"""Torch datasets for training and validation.

Training examples are random remixes (as the authors train): every source comes from an
independently chosen track and offset, is augmented, and the mixture is rebuilt as their sum.
Each example is a pure function of (seed, epoch, index), so a run is reproducible whatever the
number of worker processes, and a resumed run sees exactly the data it would have seen. The draw
of an example (`draw_example`) is one rule shared by the file-reading dataset here and the
in-memory remixer of `training/data/memory.py`, so both give the same examples.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from dannasep.engine.constants import SOURCES
from dannasep.training.data.augment import AugmentConfig, change_speed, speed_factor
from dannasep.training.data.musdb import Track


@dataclass(frozen=True)
class Example:
    """mixture (2, frames) and sources (4, 2, frames), float32 tensors."""

    mixture: torch.Tensor
    sources: torch.Tensor


@dataclass(frozen=True)
class SourceDraw:
    """Where one source of an example comes from and how it is augmented."""

    track: int
    start: int
    span: int
    """Samples read from `start`; more than the example's length when the speed changes."""
    factor: float
    gain: float
    swap: bool
    flip: bool


def draw_example(
    seed: int,
    epoch: int,
    index: int,
    track_frames: list[int],
    frames: int,
    augment: AugmentConfig,
    random_mix: bool,
) -> list[SourceDraw]:
    """The four SourceDraws (SOURCES order) of example `index` of `epoch`."""
    rng = np.random.default_rng([seed, epoch, index])
    shared = int(rng.integers(len(track_frames)))
    draws = []
    for _source in SOURCES:
        track = int(rng.integers(len(track_frames))) if random_mix else shared
        factor = speed_factor(rng, augment)
        span = int(np.ceil(frames * factor)) + 64
        start = int(rng.integers(max(1, track_frames[track] - span)))
        gain = float(rng.uniform(augment.gain_low, augment.gain_high))
        swap = bool(rng.random() < augment.swap_probability)
        flip = bool(rng.random() < augment.flip_probability)
        draws.append(SourceDraw(track, start, span, factor, gain, swap, flip))
    return draws


def apply_draw(excerpt: np.ndarray, draw: SourceDraw, frames: int) -> np.ndarray:
    """Speed, gain, channel swap and sign flip of one (2, span) excerpt -> (2, frames) float32."""
    out = change_speed(excerpt, draw.factor, frames) * np.float32(draw.gain)
    if draw.swap:
        out = out[::-1]
    if draw.flip:
        out = -out
    return np.ascontiguousarray(out, dtype=np.float32)


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

    def draws(self, index: int) -> list[SourceDraw]:
        lengths = [t.frames for t in self.tracks]
        return draw_example(self.seed, self.epoch, index, lengths, self.frames, self.augment, self.random_mix)

    def __getitem__(self, index: int) -> Example:
        sources = [
            apply_draw(self.tracks[d.track].read(source, d.start, d.span), d, self.frames)
            for source, d in zip(SOURCES, self.draws(index), strict=True)
        ]
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
