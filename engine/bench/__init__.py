"""Benchmarks: measured real-time factors, latencies and memory, printed as tables."""

PEER_CASES = ("demucs_v2", "xumx", "fusion")
"""The cases of `dannasep bench peers` (engine.bench.peers_worker)."""
