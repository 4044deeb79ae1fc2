"""The live engine: sliding-window inference, latency alignment, causal Wiener filter, fusion,
and a real-time mixer behind PortAudio."""
