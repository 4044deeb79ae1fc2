"""Long-term mean and standard deviation of a stream's mono input, for networks that standardise
their input (Demucs).

Offline, such a network standardises each 20-30 s chunk by the chunk's own statistics. A live
window is 1-2 s, and standardising it by its own statistics moves the network's operating point
from window to window, and the streamed stems drift from the offline ones (README, "Measurements
behind the code"). The stream therefore keeps exponentially forgetting sums over everything heard so far, with a time
constant of the offline chunk's order; the first seconds use what has been heard.
"""

import math

import numpy as np
import torch


class RunningInputStatistics:
    """Forgetting mean and std of the mono signal. `update` with each new stretch of input."""

    def __init__(self, seconds: float, sample_rate: int):
        if seconds <= 0:
            raise ValueError(f"the statistics' time constant must be positive, got {seconds} s")
        self.samples = seconds * sample_rate
        self.reset()

    def reset(self) -> None:
        self._sum = self._squares = self._weight = 0.0

    def update(self, block: np.ndarray) -> None:
        """block: (channels, n) new input samples."""
        mono = block.mean(axis=0, dtype=np.float64)
        decay = math.exp(-mono.size / self.samples)
        self._sum = decay * self._sum + float(mono.sum())
        self._squares = decay * self._squares + float(np.dot(mono, mono))
        self._weight = decay * self._weight + mono.size

    def current(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std), each (1, 1, 1) float32; zeros before any input."""
        if self._weight == 0.0:
            return torch.zeros(1, 1, 1), torch.zeros(1, 1, 1)
        mean = self._sum / self._weight
        std = math.sqrt(max(self._squares / self._weight - mean * mean, 0.0))
        return torch.full((1, 1, 1), mean), torch.full((1, 1, 1), std)
