"""Per-stem rendering with one persistent FluidSynth per worker process.

The synth renders dry (reverb and chorus off) so no tail leaks from one stem into the next; the
mixing stage adds its own randomised reverb per stem. Between parts every channel gets "all sound
off" and a controller reset, and silence is rendered and thrown away until the output is exactly zero.

Two things keep a render bit-exact whatever came before it: samples are read as float through
`fluid_synth_write_float` (pyfluidsynth's int16 path adds dither from a running table), and each
part starts on one of FluidSynth's 64-sample block boundaries (events take effect at the next
block, so a part started mid-block would have every note shifted by the previous part's length).
Voices keep a little state across uses (the first block of a re-used voice differs in the last
bits), so a song that must render identically every time gets a synth of its own.
"""

import ctypes
from pathlib import Path

import numpy as np

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.errors import DannaSepError
from dannasep.training.synth.music import Part

SOUNDFONT_CANDIDATES = (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), Path("/usr/share/sounds/sf2/default-GM.sf2"))
DRUM_CHANNEL = 9
_FLUSH_BLOCKS = 16  # FluidSynth blocks of silence rendered per flush round
_FLUSH_ROUNDS = 100
FLUID_BLOCK = 64  # FLUID_BUFSIZE, fixed in FluidSynth
_BLOCK = 8 * FLUID_BLOCK


class SynthUnavailableError(DannaSepError):
    """FluidSynth or a General MIDI SoundFont is missing."""


def find_soundfont() -> Path:
    for path in SOUNDFONT_CANDIDATES:
        if path.is_file():
            return path
    raise SynthUnavailableError(
        "no General MIDI SoundFont found (looked for "
        + ", ".join(map(str, SOUNDFONT_CANDIDATES))
        + "); install it with: apt-get install fluid-soundfont-gm"
    )


class FluidRenderer:
    """Renders `Part`s to float32 stereo, one part at a time, with a synth kept across calls."""

    def __init__(self, soundfont: Path | None = None, sample_rate: int = SAMPLE_RATE):
        try:
            import fluidsynth
        except (ImportError, OSError) as error:  # OSError: the binding found no libfluidsynth
            raise SynthUnavailableError(
                f"pyfluidsynth could not load libfluidsynth ({error}); run scripts/setup.sh"
            ) from error
        self.sample_rate = sample_rate
        soundfont = soundfont or find_soundfont()
        settings = {"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 512}
        if soundfont.suffix == ".sf3":
            # decode only the presets a song selects: a Vorbis-compressed font then loads in a
            # fraction of a second instead of seconds, bit-identically. Not for sf2: it changes
            # their GM drum kits' output, and they load fast anyway.
            settings["synth.dynamic-sample-loading"] = 1
        self._synth = fluidsynth.Synth(gain=0.5, samplerate=float(sample_rate), **settings)
        self._font = self._synth.sfload(str(soundfont))
        if self._font < 0:
            raise SynthUnavailableError(f"FluidSynth could not load the SoundFont {soundfont}")
        self._write_float = fluidsynth._fl.fluid_synth_write_float
        self._write_float.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p, ctypes.c_int, ctypes.c_int] * 2
        self._write_float.restype = ctypes.c_int
        self._rendered = 0  # samples read since creation, to find the block boundary

    def close(self) -> None:
        self._synth.delete()

    def __enter__(self) -> "FluidRenderer":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def render(self, part: Part, n_samples: int, pitch_wobble_cents: float = 0.0) -> np.ndarray:
        """Render `part` alone; returns float32 (n_samples, 2) in [-1, 1].

        `pitch_wobble_cents` adds a slow vibrato through pitch bend (used for the GM voice
        patches that stand in for sung vocals).
        """
        self._flush()
        channel = DRUM_CHANNEL if part.is_drum else 0
        self._synth.program_select(channel, self._font, 128 if part.is_drum else 0, 0 if part.is_drum else part.program)
        if not part.is_drum:
            self._synth.cc(channel, 7, 110)
            self._synth.cc(channel, 10, 64)
        events = []
        for note in part.notes:
            start = round(note.start * self.sample_rate)
            end = max(start + 1, round(note.end * self.sample_rate))
            if start < n_samples:
                events.append((start, 1, note.pitch, note.velocity))
                events.append((min(end, n_samples), 0, note.pitch, 0))
        events.sort()
        out = np.zeros((n_samples, 2), np.float32)
        position = 0
        for when, is_on, pitch, velocity in events:
            position = self._render_until(out, position, when, channel, pitch_wobble_cents)
            if is_on:
                self._synth.noteon(channel, pitch, velocity)
            else:
                self._synth.noteoff(channel, pitch)
        self._render_until(out, position, n_samples, channel, pitch_wobble_cents)
        return out

    def _render_until(self, out: np.ndarray, position: int, target: int, channel: int, wobble: float) -> int:
        while position < target:
            count = min(_BLOCK, target - position)
            if wobble:
                cents = wobble * np.sin(2 * np.pi * 5.5 * position / self.sample_rate)
                self._synth.pitch_bend(channel, int(cents / 200 * 8191))  # default bend range ±2 semitones
            out[position : position + count] = self._read(count)
            position += count
        return position

    def _read(self, count: int) -> np.ndarray:
        """The next `count` samples, float32 (count, 2)."""
        block = np.empty((count, 2), np.float32)
        address = block.ctypes.data
        if self._write_float(self._synth.synth, count, address, 0, 2, address + 4, 0, 2) != 0:
            raise SynthUnavailableError("FluidSynth failed to render")
        self._rendered += count
        return block

    def _flush(self) -> None:
        for channel in range(16):
            self._synth.cc(channel, 120, 0)  # all sound off
            self._synth.cc(channel, 121, 0)  # reset controllers
            self._synth.pitch_bend(channel, 0)
        # No system_reset: it brings FluidSynth's reverb back, whose tail then rings for seconds.
        for _ in range(_FLUSH_ROUNDS):
            if not np.any(self._read(_FLUSH_BLOCKS * FLUID_BLOCK)):
                break
        else:
            raise SynthUnavailableError("FluidSynth kept sounding after 'all sound off'")
        self._read(-self._rendered % FLUID_BLOCK)
