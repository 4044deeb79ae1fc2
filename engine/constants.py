"""Facts every part of the product shares."""

SAMPLE_RATE = 44100
"""All models run at 44.1 kHz; other rates are resampled on the way in."""

SOURCES: tuple[str, ...] = ("drums", "bass", "other", "vocals")
"""Stem order everywhere: model outputs, fusion weight columns, files, OSC indices 1-4."""

ARCHITECTURES: tuple[str, ...] = ("xumx", "unet", "demucs", "demucs_v2")
"""The registered networks (engine.models registers them; a test keeps the two equal), named here
so that presets can be checked without importing torch."""

N_FFT = 4096
HOP_LENGTH = 1024
MAX_BINS = 1487
"""Number of STFT bins at or below 16 kHz (bandwidth_to_max_bin(44100, 4096, 16000))."""
