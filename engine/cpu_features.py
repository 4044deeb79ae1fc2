"""What this CPU computes natively, read without torch, so that the command line's help and the
render-ahead audio process (which never runs a network) stay light."""

from functools import cache
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU flags (as Linux names them) of hardware bf16 dot products: AVX512-BF16 and AMX."""


@cache
def native_bf16() -> bool:
    """Whether this CPU computes bf16 dot products in hardware (AVX512-BF16 or AMX)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return any(flag in flags for flag in BF16_FLAGS)


def resolve_precision(precision: str) -> str:
    """The precision to run: "fp32" or "bf16" ("auto" decides by the CPU)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision
