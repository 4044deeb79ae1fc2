"""Write synthetic songs in the MUSDB18-HQ layout, in parallel, resumable and atomic per track.

    OUT/train/<track>/{mixture,drums,bass,other,vocals}.wav    (train and valid tracks)
    OUT/test/<track>/...
    OUT/setup.yaml      musdb's own setup with `validation_tracks` naming ours
    OUT/synth.json      how the set was made (seed, palette, counts, seconds, per-track details)

The palette ('train', or the held-out 'ood') also enters every song's seed, so an ood test set
never repeats a composition of a training set made with the same --seed.

A finished track is never rendered twice (re-running completes an interrupted set); a half-written
track is invisible until its folder is renamed into place.
"""

import json
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml
from tqdm import tqdm

from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.errors import DannaSepError

STEM_FILES = ("mixture", *SOURCES)
_SPLIT_CODES = {"train": 1, "valid": 2, "test": 3}
_PALETTE_CODES = {"train": (), "ood": (7,)}  # train keeps the seeds of sets made before palettes


@dataclass(frozen=True)
class SynthConfig:
    out: Path
    train: int = 8
    valid: int = 2
    test: int = 2
    seconds: float = 30.0
    seed: int = 0
    workers: int = 1
    overwrite: bool = False
    palette: str = "train"


@dataclass(frozen=True)
class TrackJob:
    split: str  # train, valid or test
    index: int
    seed: int
    seconds: float
    palette: str = "train"


def plan_jobs(config: SynthConfig) -> list[TrackJob]:
    """Every track's seed depends only on (seed, split, index): adding tracks keeps the old ones."""
    jobs = []
    for split, count in (("train", config.train), ("valid", config.valid), ("test", config.test)):
        for index in range(count):
            entropy = [config.seed, _SPLIT_CODES[split], index, *_PALETTE_CODES[config.palette]]
            track_seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
            jobs.append(TrackJob(split, index, track_seed, config.seconds, config.palette))
    return jobs


def _folder(out: Path, split: str) -> Path:
    return out / ("test" if split == "test" else "train")


def _is_complete(folder: Path) -> bool:
    return all((folder / f"{stem}.wav").is_file() for stem in STEM_FILES) and (folder / "song.json").is_file()


def _render_job(job: TrackJob, out: Path, overwrite: bool) -> tuple[TrackJob, str, dict, bool]:
    """Runs in a worker process."""
    from dannasep.training.synth.music import plan_song
    from dannasep.training.synth.song import render_song, song_name

    name = song_name(plan_song(job.seed, job.seconds))
    folder = _folder(out, job.split) / name
    if _is_complete(folder) and not overwrite:
        return job, name, json.loads((folder / "song.json").read_text()), False
    song = render_song(job.seed, job.seconds, palette=job.palette)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
    try:
        sf.write(staging / "mixture.wav", song.mixture, SAMPLE_RATE, subtype="PCM_16")
        for source, stem in song.stems.items():
            sf.write(staging / f"{source}.wav", stem, SAMPLE_RATE, subtype="PCM_16")
        (staging / "song.json").write_text(json.dumps({"split": job.split, **song.details}, indent=1))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return job, name, song.details, True


def write_setup_yaml(out: Path, validation_tracks: list[str]) -> None:
    """musdb's own setup file with our validation split, so `musdb.DB(root, setup_file=...)` works."""
    import importlib.util

    spec = importlib.util.find_spec("musdb")
    base: dict = {}
    if spec is not None and spec.origin is not None:
        base = yaml.safe_load((Path(spec.origin).parent / "configs" / "mus.yaml").read_text()) or {}
    base["validation_tracks"] = sorted(validation_tracks)
    (out / "setup.yaml").write_text(yaml.safe_dump(base, sort_keys=False))


def write_dataset(config: SynthConfig, progress: bool = True) -> dict[str, list[str]]:
    """Render every track of `config`; returns {split: [track names]}."""
    from dannasep.training.synth.palette import HELD_OUT_KITS, get_palette

    palette = get_palette(config.palette)  # fail before starting workers
    out = config.out
    if out.exists() and not out.is_dir():
        raise DannaSepError(f"{out} exists and is not a folder; choose another output folder")
    previous = out / "synth.json"
    if previous.is_file():
        earlier = json.loads(previous.read_text()).get("config", {}).get("palette", "train")
        if earlier != config.palette:
            raise DannaSepError(f"{out} holds a '{earlier}' palette set; render the '{config.palette}' one elsewhere")
    for split in ("train", "test"):
        _folder(out, split).mkdir(parents=True, exist_ok=True)
    jobs = plan_jobs(config)
    names: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    details: dict[str, dict] = {}
    rendered = 0
    bar = tqdm(
        total=len(jobs),
        unit="song",
        desc="rendering",
        disable=not progress,
        postfix={"audio": f"{len(jobs) * config.seconds / 60:.1f} min"},
    )
    context = get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, config.workers), mp_context=context) as pool:
        futures = [pool.submit(_render_job, job, out, config.overwrite) for job in jobs]
        for future in as_completed(futures):
            job, name, song_details, was_rendered = future.result()
            names[job.split].append(name)
            details[name] = song_details
            rendered += was_rendered
            bar.update()
    bar.close()
    for split in names:
        names[split].sort()
    write_setup_yaml(out, names["valid"])
    summary = {
        "generator": "dannasep synth",
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "sample_rate": SAMPLE_RATE,
        "palette": {
            "name": palette.name,
            "soundfonts": {family: str(path) for family, path in palette.soundfonts},
            "hydrogen_kits": "only " + ", ".join(sorted(palette.kit_names))
            if palette.kit_names is not None
            else "all but " + ", ".join(sorted(HELD_OUT_KITS)),
        },
        "tracks": names,
        "rendered_now": rendered,
        "details": details,
    }
    (out / "synth.json").write_text(json.dumps(summary, indent=1))
    return names
