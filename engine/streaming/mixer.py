"""The output mixer, run inside the audio callback: numpy on preallocated buffers only.

Input per frame: the four stems and the dry mix, stereo, time-aligned ((n, 5, 2)). Each strip has
a gain that moves linearly to its target over `ramp` samples whenever the target changes, so
mutes, solos and fader moves never click. Stereo output plays the sum of the stems (monitor
"split") or the dry mix (monitor "original"); the A/B switch is two more ramped gains, so it
cross-fades. Multichannel output puts each strip on its own channel pair (stems 1-4, then dry)
for recording into a DAW, and with `with_mix` the stereo mix on a sixth pair (JACK's ports).
"""

import numpy as np

N_STRIPS = 5  # drums, bass, other, vocals, dry
N_STEMS = 4


class Ramp:
    """A gain that glides linearly to its target over `length` samples."""

    def __init__(self, length: int, steps: np.ndarray, scratch: np.ndarray):
        self.length = length
        self.current = 0.0
        self.target = 0.0
        self._step = 0.0
        self._remaining = 0
        self._steps = steps  # shared 1..max_block
        self._buffer = scratch  # shared output buffer

    def set(self, target: float, immediately: bool = False) -> None:
        if target == self.target and not immediately:
            return
        self.target = target
        if immediately:
            self.current, self._remaining = target, 0
        else:
            self._remaining = self.length
            self._step = (target - self.current) / self.length

    @property
    def steady(self) -> bool:
        return self._remaining == 0

    def fill(self, n: int) -> np.ndarray:
        """The next n gains, (n,), in the shared buffer (valid until the next fill)."""
        g = self._buffer[:n]
        k = min(n, self._remaining)
        if k:
            np.multiply(self._steps[:k], self._step, out=g[:k])
            g[:k] += self.current
            self._remaining -= k
        g[k:] = self.target
        self.current = self.target if self._remaining == 0 else float(g[n - 1])
        return g


class Mixer:
    def __init__(self, max_block: int, ramp: int = 441, multichannel: bool = False, with_mix: bool = False):
        self.max_block = max_block
        self.multichannel = multichannel
        self.with_mix = multichannel and with_mix
        self.channels = 2 * N_STRIPS + 2 * self.with_mix if multichannel else 2
        steps = np.arange(1, max_block + 1, dtype=np.float32)
        self._gain_buffer = np.zeros(max_block, dtype=np.float32)
        ramp = max(1, ramp)
        self.strips = [Ramp(ramp, steps, self._gain_buffer) for _ in range(N_STRIPS)]
        self.split = Ramp(ramp, steps, self._gain_buffer)
        self.original = Ramp(ramp, steps, self._gain_buffer)
        self.post = np.zeros((max_block, N_STRIPS + 1, 2), dtype=np.float32)
        """After `process`: each strip after its own gain, and what the stereo output played, (n, 6, 2)."""
        self._stems = np.zeros((max_block, 2), dtype=np.float32)
        self._scratch = np.zeros((max_block, 2), dtype=np.float32)
        self.peaks = np.zeros(N_STRIPS + 1)
        """Peak of each strip after its gain, and of the mix, in the last processed block."""

    def set_targets(self, strip_gains, split: float, original: float, immediately: bool = False) -> None:
        """Linear target gains: five strips, then the A/B monitor factors. No allocation."""
        for ramp, gain in zip(self.strips, strip_gains, strict=True):
            ramp.set(float(gain), immediately)
        self.split.set(split, immediately)
        self.original.set(original, immediately)

    def _scale(self, ramp: Ramp, signal: np.ndarray, out: np.ndarray) -> None:
        n = signal.shape[0]
        if ramp.steady:
            np.multiply(signal, ramp.target, out=out)
        else:
            np.multiply(signal, ramp.fill(n)[:, None], out=out)

    def process(self, frames: np.ndarray, out: np.ndarray) -> None:
        """frames: (n, 5, 2) stems + dry; out: (n, channels) device buffer, fully written."""
        n = frames.shape[0]
        post = self.post[:n]
        stems = self._stems[:n]
        stems.fill(0.0)
        for s, ramp in enumerate(self.strips):
            self._scale(ramp, frames[:, s, :], post[:, s, :])
            if self.multichannel:
                out[:, 2 * s : 2 * s + 2] = post[:, s, :]
            if s < N_STEMS:
                np.add(stems, post[:, s, :], out=stems)
            self._track_peak(s, post[:, s, :])
        mix = post[:, N_STRIPS]
        self._scale(self.split, stems, mix)
        dry = self._scratch[:n]
        self._scale(self.original, post[:, N_STEMS, :], dry)
        np.add(mix, dry, out=mix)
        if not self.multichannel:
            out[:, :2] = mix
        elif self.with_mix:
            out[:, 2 * N_STRIPS : 2 * N_STRIPS + 2] = mix
        self._track_peak(N_STRIPS, mix)

    def _track_peak(self, index: int, signal: np.ndarray) -> None:
        if not signal.shape[0]:
            self.peaks[index] = 0.0
            return
        scratch = self._scratch[: signal.shape[0]]
        np.abs(signal, out=scratch)
        self.peaks[index] = float(scratch.max())
