"""The MUSDB18-HQ folder layout, read directly with soundfile (musdb's own reader decodes every WAV
through an ffmpeg subprocess, ~100x slower for training excerpts).

    ROOT/train/<track>/{mixture,drums,bass,other,vocals}.wav
    ROOT/test/<track>/...
    ROOT/setup.yaml (optional)   `validation_tracks:` names the tracks of train/ held out for validation;
                                 without it, musdb's own list of the 14 MUSDB18 validation tracks is used.

Every track is checked once (files present and readable, same rate, channels and length, no
all-silent stem). A bad track is reported by name and skipped; the count is returned. Lengths are
counted by decoding, as for every input (engine/audio/reader.py): a header that lies about its length
cannot make training or evaluation size anything from it, and a stem whose header gives a wrong or
no length is skipped (its excerpts are read in place, which needs a header that is right).
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from dannasep.engine.audio.reader import inspect_audio
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.errors import AudioInputError, DannaSepError

STEM_FILES = ("mixture", *SOURCES)
SPLITS = ("train", "valid", "test")


class DatasetError(DannaSepError):
    """A data folder that cannot be used at all."""


@dataclass(frozen=True)
class Track:
    name: str
    folder: Path
    frames: int
    sample_rate: int = SAMPLE_RATE

    def path(self, stem: str) -> Path:
        return self.folder / f"{stem}.wav"

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def read(self, stem: str, start: int = 0, frames: int = -1) -> np.ndarray:
        """(2, frames) float32 excerpt of one stem (zero-padded if it runs past the end)."""
        data, _ = sf.read(str(self.path(stem)), start=start, frames=frames, dtype="float32", always_2d=True)
        if frames > 0 and data.shape[0] < frames:
            data = np.pad(data, ((0, frames - data.shape[0]), (0, 0)))
        return np.ascontiguousarray(data.T)

    def read_sources(self, start: int = 0, frames: int = -1) -> np.ndarray:
        """(4, 2, frames) float32, SOURCES order."""
        return np.stack([self.read(s, start, frames) for s in SOURCES])


@dataclass(frozen=True)
class TrackProblem:
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def validation_track_names(root: Path) -> set[str]:
    setup = root / "setup.yaml"
    if setup.is_file():
        data = yaml.safe_load(setup.read_text()) or {}
    else:
        import musdb

        data = yaml.safe_load((Path(musdb.__file__).parent / "configs" / "mus.yaml").read_text()) or {}
    return set(data.get("validation_tracks") or [])


def _check_track(folder: Path) -> tuple[int, str | None]:
    """(frames, problem or None) for one track folder."""
    infos = {}
    for stem in STEM_FILES:
        path = folder / f"{stem}.wav"
        if not path.is_file():
            return 0, f"missing {stem}.wav"
        try:
            infos[stem] = inspect_audio(path)
        except AudioInputError as exc:
            return 0, f"{stem}.wav is unreadable ({str(exc).removeprefix(f'{path}: ')})"
        if not infos[stem].seekable_in_place:
            return 0, f"{stem}.wav: its header gives a wrong or no length (re-save the file)"
    rates = {i.sample_rate for i in infos.values()}
    if rates != {SAMPLE_RATE}:
        return 0, f"sample rates {sorted(rates)} (all stems must be {SAMPLE_RATE} Hz)"
    channels = {i.channels for i in infos.values()}
    if channels != {2}:
        return 0, f"channel counts {sorted(channels)} (all stems must be stereo)"
    lengths = {stem: i.frames for stem, i in infos.items()}
    if len(set(lengths.values())) != 1:
        detail = ", ".join(f"{s} {n}" for s, n in lengths.items())
        return 0, f"stems of different lengths ({detail} frames)"
    frames = lengths["mixture"]
    for stem in SOURCES:
        try:
            peak = max(
                (float(np.abs(b).max()) for b in sf.blocks(str(folder / f"{stem}.wav"), blocksize=1 << 20)), default=0.0
            )
        except (sf.LibsndfileError, RuntimeError) as exc:
            return 0, f"{stem}.wav is corrupt ({exc})"
        if peak == 0.0:
            return 0, f"{stem}.wav is silent from start to end"
    return frames, None


def _cache_file(folder: Path) -> Path:
    digest = hashlib.sha1()
    for stem in STEM_FILES:
        path = folder / f"{stem}.wav"
        stat = path.stat() if path.exists() else None
        digest.update(f"{path}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}".encode())
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dannasep" / "track-checks"
    return base / f"{digest.hexdigest()}.json"


def check_track(folder: Path) -> tuple[int, str | None]:
    """Like _check_track, remembered per file size and mtime (the silence scan reads every sample)."""
    cache = _cache_file(folder)
    if cache.is_file():
        try:
            cached = json.loads(cache.read_text())
            return int(cached["frames"]), cached["problem"]
        except (ValueError, KeyError):
            pass
    frames, problem = _check_track(folder)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"frames": frames, "problem": problem}))
    except OSError:
        pass  # a read-only home only costs the re-check next time
    return frames, problem


def describe_dataset(root: str | Path) -> str:
    """A name for the data set in `root` that means something off this machine (sidecars record it):
    how `dannasep synth` made it, or the folder's name."""
    root = Path(root)
    try:
        summary = json.loads((root / "synth.json").read_text())
        c = summary["config"]
        return (
            f"dannasep synth, palette {c.get('palette', 'train')}, seed {c['seed']}: {c['train']} train + "
            f"{c['valid']} valid + {c['test']} test songs of {c['seconds']:g} s"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return f"{root.name} (MUSDB18-HQ layout)"


def list_tracks(root: str | Path, split: str) -> tuple[list[Track], list[TrackProblem]]:
    """Usable tracks of `split` ("train", "valid" or "test") and the problems of the skipped ones."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    root = Path(root)
    subset = root / ("test" if split == "test" else "train")
    if not subset.is_dir():
        raise DatasetError(
            f"{root}: no {subset.name}/ folder; expected the MUSDB18-HQ layout "
            "ROOT/{train,test}/<track>/{mixture,drums,bass,other,vocals}.wav"
        )
    valid_names = validation_track_names(root) if split != "test" else set()
    tracks, problems = [], []
    for folder in sorted(p for p in subset.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (split == "train" and folder.name in valid_names) or (split == "valid" and folder.name not in valid_names):
            continue
        frames, problem = check_track(folder)
        if problem:
            problems.append(TrackProblem(folder.name, problem))
        else:
            tracks.append(Track(folder.name, folder, frames))
    return tracks, problems
