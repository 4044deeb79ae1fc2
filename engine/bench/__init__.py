"""Benchmarks: measured real-time factors, latencies and memory, printed as tables."""
