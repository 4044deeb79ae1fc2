"""The MUSDB18-HQ reader, bad tracks, random remixing and determinism."""

import numpy as np
import pytest
import soundfile as sf
import torch
from audio_fixtures import write_dataset
from torch.utils.data import DataLoader

from dannasep.training.data.augment import AugmentConfig
from dannasep.training.data.datasets import RandomMixDataset, SegmentDataset, collate
from dannasep.training.data.memory import InMemoryRemixer
from dannasep.training.data.musdb import DatasetError, describe_dataset, list_tracks


def test_splits_follow_setup_yaml(tiny_dataset):
    train, _ = list_tracks(tiny_dataset, "train")
    valid, _ = list_tracks(tiny_dataset, "valid")
    test, _ = list_tracks(tiny_dataset, "test")
    assert [t.name for t in train] == ["t0", "t1", "t2"] and [t.name for t in valid] == ["t3"]
    assert [t.name for t in test] == ["e0"]


def test_musdb_package_reads_the_same_layout(tiny_dataset):
    import musdb

    db = musdb.DB(
        root=str(tiny_dataset), is_wav=True, subsets="train", split="valid", setup_file=str(tiny_dataset / "setup.yaml")
    )
    assert [t.name for t in db] == ["t3"]


def test_bad_tracks_are_skipped_with_their_reason(tiny_dataset):
    train = tiny_dataset / "train"
    (train / "t0" / "bass.wav").unlink()
    data, rate = sf.read(str(train / "t1" / "drums.wav"))
    sf.write(str(train / "t1" / "drums.wav"), data[:-100], rate, subtype="FLOAT")
    sf.write(str(train / "t2" / "vocals.wav"), np.zeros_like(data), rate, subtype="FLOAT")
    tracks, problems = list_tracks(tiny_dataset, "train")
    assert tracks == []
    reasons = {p.name: p.reason for p in problems}
    assert reasons["t0"] == "missing bass.wav"
    assert "different lengths" in reasons["t1"] and "drums 132200" in reasons["t1"]
    assert reasons["t2"] == "vocals.wav is silent from start to end"


def test_corrupt_and_wrong_rate_tracks(tiny_dataset):
    train = tiny_dataset / "train"
    (train / "t0" / "other.wav").write_bytes(b"garbage" * 100)
    data, _ = sf.read(str(train / "t1" / "other.wav"))
    sf.write(str(train / "t1" / "other.wav"), data, 48000, subtype="FLOAT")
    _, problems = list_tracks(tiny_dataset, "train")
    reasons = {p.name: p.reason for p in problems}
    assert "other.wav is unreadable" in reasons["t0"]
    assert "sample rates [44100, 48000]" in reasons["t1"]


def test_a_folder_without_the_layout_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="no train/ folder"):
        list_tracks(tmp_path, "train")


def test_examples_are_deterministic_and_mixtures_are_sums(tiny_dataset):
    tracks, _ = list_tracks(tiny_dataset, "train")
    data = RandomMixDataset(tracks, frames=20_000, samples_per_track=4, seed=7)
    a, b = data[5], data[5]
    assert torch.equal(a.sources, b.sources) and a.sources.shape == (4, 2, 20_000)
    assert torch.allclose(a.mixture, a.sources.sum(0))
    data.set_epoch(1)
    assert not torch.equal(data[5].sources, a.sources)
    other_seed = RandomMixDataset(tracks, frames=20_000, samples_per_track=4, seed=8)
    assert not torch.equal(other_seed[5].sources, a.sources)


def test_worker_processes_do_not_change_the_data(tiny_dataset):
    tracks, _ = list_tracks(tiny_dataset, "train")
    data = RandomMixDataset(
        tracks, frames=8_000, samples_per_track=4, seed=1, augment=AugmentConfig(speed_probability=0.5)
    )
    plain = [batch[1] for batch in DataLoader(data, batch_size=3, collate_fn=collate)]
    parallel = [batch[1] for batch in DataLoader(data, batch_size=3, collate_fn=collate, num_workers=2)]
    assert all(torch.equal(x, y) for x, y in zip(plain, parallel, strict=True))


def test_augmentation_stays_within_the_papers_ranges(tiny_dataset):
    tracks, _ = list_tracks(tiny_dataset, "train")
    plain = RandomMixDataset(tracks, 10_000, 8, seed=3, augment=AugmentConfig(1, 1, 0, 0), random_mix=False)
    augmented = RandomMixDataset(tracks, 10_000, 8, seed=3, random_mix=False)
    for i in range(len(plain)):
        ref, aug = plain[i].sources, augmented[i].sources
        for s in range(4):
            ratio = aug[s].abs().max() / ref[s].abs().max()
            assert 0.25 - 1e-5 <= ratio <= 1.25 + 1e-5


def test_validation_segments_cover_tracks_in_order(tiny_dataset):
    tracks, _ = list_tracks(tiny_dataset, "valid")
    segments = SegmentDataset(tracks, frames=44_100)
    assert len(segments) == 3  # a 3 s track in 1 s segments
    assert torch.equal(segments[1].sources, torch.from_numpy(tracks[0].read_sources(44_100, 44_100)))


@pytest.mark.slow
def test_in_memory_batches_equal_the_file_datasets_examples(tiny_dataset):
    tracks, _ = list_tracks(tiny_dataset, "train")
    files = RandomMixDataset(tracks, frames=20_000, samples_per_track=4, seed=5)
    memory = InMemoryRemixer(RandomMixDataset(tracks, frames=20_000, samples_per_track=4, seed=5), device="cpu")
    for epoch in (0, 3):
        files.set_epoch(epoch)
        memory.set_epoch(epoch)
        indices = [0, 5, len(files) - 1]
        mixtures, sources = memory.batch(indices)
        assert sources.shape == (3, 4, 2, 20_000) and mixtures.shape == (3, 2, 20_000)
        for row, index in enumerate(indices):
            torch.testing.assert_close(sources[row], files[index].sources, rtol=0, atol=1e-6)
        torch.testing.assert_close(mixtures, sources.sum(1))


def test_in_memory_data_refuses_speed_perturbation(tiny_dataset):
    tracks, _ = list_tracks(tiny_dataset, "train")
    with pytest.raises(ValueError, match="speed"):
        InMemoryRemixer(RandomMixDataset(tracks, 8_000, 2, seed=0, augment=AugmentConfig(speed_probability=0.2)), "cpu")


def test_in_memory_data_keeps_pcm16_files_as_int16(tmp_path):
    root = write_dataset(tmp_path / "pcm", train=2, valid=1, test=0, seconds=1.0)
    for path in root.glob("train/*/*.wav"):
        data, rate = sf.read(str(path))
        sf.write(str(path), data * 0.5, rate, subtype="PCM_16")
    tracks, _ = list_tracks(root, "train")
    memory = InMemoryRemixer(RandomMixDataset(tracks, 8_000, 2, seed=1), device="cpu")
    files = RandomMixDataset(tracks, 8_000, 2, seed=1)
    assert memory.stems.dtype == torch.int16
    torch.testing.assert_close(memory.batch([3])[1][0], files[3].sources, rtol=0, atol=1e-6)


def test_a_data_set_is_described_without_its_path(tiny_dataset, tmp_path):
    assert describe_dataset(tiny_dataset) == "data (MUSDB18-HQ layout)"
    (tiny_dataset / "synth.json").write_text(
        '{"config": {"palette": "train", "seed": 5, "train": 3, "valid": 1, "test": 1, "seconds": 3.0}}'
    )
    described = describe_dataset(tiny_dataset)
    assert "seed 5" in described and "3 train + 1 valid + 1 test songs of 3 s" in described
    assert str(tmp_path) not in described
