"""Pure signal-processing functions on tensors (no models, no I/O).

Shapes are named in every docstring: (batch, source, channel, time) for waveforms and
(..., channel, freq, frame) for spectrograms.
"""
