"""The file source, run inside the audio callback: it writes the next input samples of the
stream, handling loop, seek and end of file.

A jump (seek, or reaching the loop end) cross-fades over `fade` samples from the old position to
the new one, so the stream the models hear has no click. After the end of the file the player
feeds silence; `ended_at` records the stream position where the file ran out.
"""

import numpy as np

from dannasep.engine.constants import SAMPLE_RATE


class FilePlayer:
    def __init__(self, audio: np.ndarray, max_block: int, fade: int = 256, frame: tuple[int, ...] = (2,)):
        """audio: (frames, 2) float32 at 44.1 kHz; frame: the shape of one output frame."""
        self.audio = np.ascontiguousarray(audio, dtype=np.float32)
        self.length = self.audio.shape[0]
        self.position = 0
        self.fade = fade
        self._jump_to: int | None = None
        self._fade_left = 0
        self._fade_from = 0
        self._ramp = ((np.arange(fade, dtype=np.float32) + 0.5) / fade).reshape(fade, *(1,) * len(frame))
        self._ramp_down = 1.0 - self._ramp
        self._other = np.zeros((max_block, *frame), dtype=np.float32)
        self.loop: tuple[int, int] | None = None
        self.ended = False

    def start_ahead(self, origin: int, ahead: int) -> None:
        """Go on from where playing reaches `ahead` samples after song position `origin` (through the
        loop, if one is set), without a cross-fade: for a player that has played nothing yet."""
        sample = origin + ahead
        if self.loop is not None and origin < self.loop[1] <= sample:
            start, end = self.loop
            sample = start + (sample - start) % (end - start)
        self.position, self._jump_to, self._fade_left = min(sample, self.length), None, 0
        self.ended = False

    def seek(self, seconds: float) -> None:
        self._jump_to = min(self.length, max(0, round(seconds * SAMPLE_RATE)))

    def set_loop(self, loop: tuple[float, float] | None) -> None:
        if loop is None:
            self.loop = None
            return
        start, end = (min(self.length, round(t * SAMPLE_RATE)) for t in loop)
        self.loop = (start, end) if end > start else None

    def _copy(self, out: np.ndarray, start: int) -> None:
        """out[:] = audio[start : start + len(out)], zeros past the end."""
        n = out.shape[0]
        avail = max(0, min(n, self.length - start))
        out[:avail] = self.audio[start : start + avail]
        out[avail:] = 0.0

    def fill(self, out: np.ndarray) -> None:
        """Write the next (n, 2) stream samples into `out`."""
        n = out.shape[0]
        done = 0
        while done < n:
            if self._jump_to is not None:
                self._fade_from, self.position = self.position, self._jump_to
                self._fade_left, self._jump_to = self.fade, None
                self.ended = False
            stop = n
            if self.loop is not None and self.loop[0] <= self.position < self.loop[1]:
                stop = min(n, done + self.loop[1] - self.position)
            chunk = out[done:stop]
            self._copy(chunk, self.position)
            if self._fade_left:
                # cross-fade from where we jumped away from
                k = min(self._fade_left, chunk.shape[0])
                other = self._other[:k]
                self._copy(other, self._fade_from)
                at = self.fade - self._fade_left
                np.multiply(chunk[:k], self._ramp[at : at + k], out=chunk[:k])
                np.multiply(other, self._ramp_down[at : at + k], out=other)
                np.add(chunk[:k], other, out=chunk[:k])
                self._fade_left -= k
                self._fade_from += k
            self.position += chunk.shape[0]
            done = stop
            if self.loop is not None and self.position == self.loop[1]:
                self._jump_to = self.loop[0]
        if self.position >= self.length and self.loop is None:
            self.ended = True
