"""Test audio made with numpy (no synthesiser): stems, songs and a tiny MUSDB18-HQ-layout folder."""

from pathlib import Path

import numpy as np
import soundfile as sf

from dannasep.engine.constants import SAMPLE_RATE, SOURCES


def make_stems(seconds: float, seed: int) -> dict[str, np.ndarray]:
    """Four easy-to-tell-apart stereo stems: clicks, a low sine, a chord, a gliding tone."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    beat = (t * rng.uniform(1.5, 3)) % 1.0
    drums = rng.standard_normal(t.size) * np.exp(-beat * 30) * 0.5
    bass = 0.4 * np.sin(2 * np.pi * rng.uniform(40, 90) * t)
    root = rng.uniform(200, 400)
    other = 0.15 * sum(np.sin(2 * np.pi * root * r * t) for r in (1, 1.26, 1.5))
    vocals = 0.3 * np.sin(2 * np.pi * rng.uniform(300, 600) * t + 3 * np.sin(2 * np.pi * 5 * t))
    pans = rng.uniform(0.3, 0.7, 4)
    return {
        s: np.stack([x * (1 - p), x * p]).astype(np.float32)
        for s, x, p in zip(SOURCES, (drums, bass, other, vocals), pans, strict=True)
    }


def write_song(path: Path, seconds: float, seed: int = 0) -> np.ndarray:
    """A float WAV mixture of make_stems; returns it as (frames, 2)."""
    mix = sum(make_stems(seconds, seed).values()).T.astype(np.float32)
    sf.write(str(path), mix, SAMPLE_RATE, subtype="FLOAT")
    return mix


def assert_played_in_time(dry: np.ndarray, song: np.ndarray, latency: int, at_least: float = 0.9) -> np.ndarray:
    """Check the recorded dry mix against the song: every sample that played is the song's own,
    exactly `latency` samples late, and at least `at_least` of the song played. A block the
    inference did not deliver in time (an under-run, on a machine busier than the margins allow)
    plays silence in every channel, so it shows as an all-zero frame. Returns the played mask."""
    segment = dry[latency : latency + len(song)]
    assert len(segment) == len(song), "the recording ends before the song does"
    played = np.any(segment != 0, axis=1)
    assert played.mean() >= at_least, f"only {played.mean():.0%} of the song played"
    assert np.array_equal(segment[played], song[played]), "the dry mix is not the song, aligned to the sample"
    return played


def assert_song_in_pieces(recorded: np.ndarray, song: np.ndarray, at_least: float = 0.5) -> None:
    """Check a recording of `song` ((frames, 2) each) passed through a JACK graph on a busy machine,
    where a client that misses a cycle drops a period or plays one twice: every sample that is not
    silent starts or continues a run equal to the song's own samples, runs follow the song's order
    (a repeat of a few periods aside), and at least `at_least` of the song is there."""
    where: dict[bytes, list[int]] = {}
    for position, frame in enumerate(song):
        where.setdefault(frame.tobytes(), []).append(position)
    heard = np.flatnonzero(np.any(recorded != 0, axis=1))
    covered = np.zeros(len(song), dtype=bool)
    at, last = 0, 0
    while True:
        later = heard[np.searchsorted(heard, at) :]
        if not len(later):
            break
        at = int(later[0])
        start, run = _run_in_song(recorded, at, song, where.get(recorded[at].tobytes(), []), last - 8192)
        assert run, f"sample {at} of the recording is not the song's own"
        covered[start : start + run] = True
        at, last = at + run, start + run
    assert covered.mean() >= at_least, f"only {covered.mean():.0%} of the song came out"


def _run_in_song(recorded, at: int, song, candidates: list[int], earliest: int) -> tuple[int, int]:
    """(song position, length) of the longest-starting match of recorded[at:] among candidates."""
    for position in candidates:
        if position < earliest:
            continue
        length = min(len(song) - position, len(recorded) - at)
        same = np.all(recorded[at : at + length] == song[position : position + length], axis=1)
        run = length if same.all() else int(np.argmin(same))
        if run >= min(16, length):
            return position, run
    return 0, 0


def write_dataset(root: Path, train=3, valid=1, test=1, seconds=3.0) -> Path:
    names = {"train": [f"t{i}" for i in range(train + valid)], "test": [f"e{i}" for i in range(test)]}
    seed = 0
    for subset, tracks in names.items():
        for name in tracks:
            folder = root / subset / name
            folder.mkdir(parents=True)
            stems = make_stems(seconds, seed)
            seed += 1
            for stem, data in stems.items():
                sf.write(str(folder / f"{stem}.wav"), data.T, SAMPLE_RATE, subtype="FLOAT")
            sf.write(str(folder / "mixture.wav"), sum(stems.values()).T, SAMPLE_RATE, subtype="FLOAT")
    # musdb's own setup file with our validation tracks, so musdb.DB reads the folder too
    import musdb
    import yaml

    setup = yaml.safe_load((Path(musdb.__file__).parent / "configs" / "mus.yaml").read_text())
    setup["validation_tracks"] = names["train"][train:]
    (root / "setup.yaml").write_text(yaml.safe_dump(setup))
    return root
