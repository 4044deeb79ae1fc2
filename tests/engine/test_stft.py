import pytest
import torch

from dannasep.engine.dsp.stft import istft, num_frames, stft


@pytest.mark.parametrize("length", [2049, 4096, 44100, 44100 + 517, 3 * 1024 + 1])
def test_round_trip_is_identity(length):
    x = torch.randn(2, 2, length, dtype=torch.float64)
    spec = stft(x)
    assert spec.shape == (2, 2, 2049, num_frames(length))
    y = istft(spec, length=length)
    assert torch.allclose(x, y, atol=1e-10)


def test_frames_and_default_length_follow_the_authors_convention():
    x = torch.randn(2, 10 * 1024 + 300)
    spec = stft(x)
    assert spec.shape[-1] == 1 + x.shape[-1] // 1024
    assert istft(spec).shape[-1] == (spec.shape[-1] - 1) * 1024


def test_window_is_periodic_hann_like_torch_defaults():
    x = torch.randn(1, 20000)
    ref = torch.stft(x, 4096, 1024, 4096, torch.hann_window(4096), center=True, return_complex=True)
    assert torch.equal(stft(x), ref)


def test_too_short_signal_is_refused():
    with pytest.raises(ValueError, match="too short"):
        stft(torch.randn(1, 1000))
