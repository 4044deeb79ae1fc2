"""Facts every part of the product shares (model-spec §1)."""

SAMPLE_RATE = 44100
"""All models run at 44.1 kHz; other rates are resampled on the way in."""

SOURCES: tuple[str, ...] = ("drums", "bass", "other", "vocals")
"""Stem order everywhere: model outputs, fusion weight columns, files, OSC indices 1-4."""

AUDIO_CHANNELS = 2

N_FFT = 4096
HOP_LENGTH = 1024
MAX_BINS = 1487
"""Number of STFT bins at or below 16 kHz (bandwidth_to_max_bin(44100, 4096, 16000))."""
