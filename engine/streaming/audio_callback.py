"""The real-time audio callback and everything it touches, allocated when the stream opens.

Each block it feeds the stream (file player or device input) into the input ring, reads the hop
results `latency` samples later from the lanes' output rings, mixes, meters, records and counts
under-runs. It moves samples only: no torch, files, locks, logging or buffer allocation, because
anything that can wait makes the device play a gap.

Control changes reach it through a ControlSlot: the control plane's delivering thread publishes a
whole BlockControl, and the callback takes the newest one at the start of a block. So only the
audio thread ever changes the mixer's ramps, the player and the counters.
"""

import contextlib
import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.control.state import STRIPS, EngineState
from dannasep.engine.streaming.mixer import N_STRIPS, Mixer
from dannasep.engine.streaming.player import FilePlayer
from dannasep.engine.streaming.recorder import Recorder
from dannasep.engine.streaming.rings import SharedRing

MAX_BLOCK = 8192
RAMP_SAMPLES = int(0.01 * SAMPLE_RATE)
XRUNS_KEPT = 16


@dataclass(frozen=True)
class BlockControl:
    """What the callback applies at a block start: the control state (transport) and the
    mixer's linear targets, computed by the writer so the callback only copies them."""

    state: EngineState
    strip_gains: tuple[float, ...]
    split: float
    original: float

    @classmethod
    def of(cls, state: EngineState) -> "BlockControl":
        split = 1.0 if state.monitor == "split" else 0.0
        return cls(state, tuple(state.effective_gain(s) for s in STRIPS), split, 1.0 - split)


class ControlSlot:
    """One writer publishes whole values, one reader takes the newest: a reference swap, which
    Python makes atomic, so neither side waits."""

    def __init__(self, value: BlockControl):
        self._value = value

    def publish(self, value: BlockControl) -> None:
        self._value = value

    def latest(self) -> BlockControl:
        return self._value


@dataclass(frozen=True)
class CallbackSetup:
    """What the callback is wired to."""

    in_ring: SharedRing | None
    """None where the stems come from elsewhere (render-ahead)."""
    lane_rings: tuple[SharedRing, ...]
    """(capacity, 5, 2) each; the stems add up over lanes, lane 0 also carries the dry mix."""
    latency: int
    """Samples from an input sample to the output of its hop."""
    audio: np.ndarray | None
    """(frames, 2) file to play; None: the device's input."""
    multichannel: bool
    recorder: Recorder | None
    with_mix: bool = False
    """Multichannel output also carries the stereo mix, on two channels after the strips (JACK's mix ports)."""


class AudioCallback:
    """The block logic and its state, shared by every audio backend: `block` processes one block;
    calling the object is the PortAudio (sounddevice) adapter, engine.streaming.jack_stream the JACK one."""

    def __init__(self, setup: CallbackSetup, slot: ControlSlot):
        self.setup = setup
        self.slot = slot
        self.mixer = Mixer(MAX_BLOCK, ramp=RAMP_SAMPLES, multichannel=setup.multichannel, with_mix=setup.with_mix)
        self.control = slot.latest()
        self.mixer.set_targets(self.control.strip_gains, self.control.split, self.control.original, immediately=True)
        self.player = FilePlayer(setup.audio, MAX_BLOCK) if setup.audio is not None else None
        self._loop = None
        self._seek_id = self.control.state.transport.seek_id
        self._input_block = np.zeros((MAX_BLOCK, 2), dtype=np.float32)
        self._output_block = np.zeros((MAX_BLOCK, len(SOURCES) + 1, 2), dtype=np.float32)
        self._lane_block = np.zeros_like(self._output_block)
        self.recorder = setup.recorder
        """Where played blocks go; None while another callback plays (a render-ahead hand-over)."""
        self._fade_from: np.ndarray | None = None
        self._frame_index = np.arange(MAX_BLOCK, dtype=np.float32)
        self._fade_up = np.zeros(MAX_BLOCK, dtype=np.float32)
        self.levels = np.zeros((64, N_STRIPS + 1))
        """Per-block peaks of the strips and the mix, a ring; the newest at level_count - 1."""
        self.level_count = 0
        self.xrun_positions = np.zeros(XRUNS_KEPT, dtype=np.int64)
        """Stream positions of the first under-runs and device underflows."""
        self.seconds = np.zeros(1 << 16)
        """Duration of the latest callbacks, a ring; the newest at count - 1."""
        self.count = 0
        self.underruns = 0
        self.device_underflows = 0
        self.position = 0
        """Stream samples fed so far."""
        self.prerolled = 0
        """File samples fed before the device started (`preroll`), counted in `position`."""
        self.control_taken_at = 0
        """Stream position of the block that took the newest control (mixer targets)."""
        self.finished = False
        self.stopped = False
        """Set by the engine as it stops: from then on the callback plays silence and touches nothing."""
        self.last_called = time.monotonic()
        self._finished_at: int | None = None
        self._prioritised = False

    def __call__(self, *args) -> None:
        """sounddevice's callback: (indata, outdata, frames, time, status) for a duplex stream,
        (outdata, frames, time, status) for an output stream."""
        if len(args) == 5:
            indata, outdata, frames, _time, status = args
        else:
            indata, (outdata, frames, _time, status) = None, args
        self.block(indata, outdata, frames, bool(status.output_underflow))

    def block(self, indata: np.ndarray | None, outdata: np.ndarray, frames: int, underflow: bool) -> None:
        """One block: indata (frames, >= 2) from the input (None when playing a file), outdata
        (frames, channels) fully written; underflow: the backend reported an under-run since the last block."""
        began = time.perf_counter()
        self._fill(indata, outdata, frames, underflow)
        self.seconds[self.count % len(self.seconds)] = time.perf_counter() - began
        self.count += 1

    def durations(self) -> np.ndarray:
        """Seconds each of the latest (up to 65,536) callbacks took, oldest first."""
        if self.count <= len(self.seconds):
            return self.seconds[: self.count].copy()
        return np.roll(self.seconds, -(self.count % len(self.seconds))).copy()

    def xrun_seconds(self) -> list[float]:
        kept = min(XRUNS_KEPT, self.underruns + self.device_underflows)
        return [round(float(p) / SAMPLE_RATE, 3) for p in self.xrun_positions[:kept]]

    def _count_xrun(self, position: int) -> None:
        if self.underruns + self.device_underflows < XRUNS_KEPT:
            self.xrun_positions[self.underruns + self.device_underflows] = position

    def _take_control(self) -> None:
        control = self.slot.latest()
        if control is not self.control:
            self.control, self.control_taken_at = control, self.position
            self.mixer.set_targets(control.strip_gains, control.split, control.original)

    def _fill(self, indata: np.ndarray | None, outdata: np.ndarray, frames: int, underflow: bool) -> None:
        self._begin_block(underflow)
        transport = self.control.state.transport
        if not transport.playing or self.finished or self.stopped:
            outdata.fill(0.0)
            return
        n = frames
        self.setup.in_ring.write(self._input(indata, n, transport))
        out = self._output_block[:n]
        self._read_stems(out, self.position - self.setup.latency)
        if self._fade_from is not None:
            self._fade_in(out, self._fade_from)
            self._fade_from = None
        self._play(out, outdata)
        if self._finished_at is not None and self.position >= self._finished_at + self.setup.latency:
            self.finished = True

    def preroll(self, samples: int) -> int:
        """Before the device starts: feed the file's first `samples` into the input ring, so that the
        first hops are computed before the clock runs (they would be due while everything else is
        starting too). Those samples count as fed, so input to output stays `latency` and the
        first sound comes that much sooner; a recording starts with that much silence, so the song
        still begins `latency` samples into it. Returns the samples fed: none for device input or a
        paused transport."""
        transport = self.control.state.transport
        if self.player is None or self.setup.in_ring is None or not transport.playing:
            return 0
        while self.prerolled < samples:
            n = min(MAX_BLOCK, samples - self.prerolled)
            self.setup.in_ring.write(self._input(None, n, transport))
            if self.recorder is not None:  # a recording's frame i is stream position i
                self.recorder.push(np.zeros_like(self.mixer.post[:n]))
            self.prerolled += n
            self.position += n
        return self.prerolled

    def _begin_block(self, underflow: bool) -> float:
        """What every block starts with: the time, the thread's priority, the device's underflow
        count and the newest control. Returns the time (monotonic seconds)."""
        now = self.last_called = time.monotonic()
        if not self._prioritised:
            self._prioritise_audio_thread()
        if underflow:
            self._count_xrun(self.position)
            self.device_underflows += 1
        self._take_control()
        return now

    def _play(self, out: np.ndarray, outdata: np.ndarray) -> None:
        """Mix (n, 5, 2) `out` into the device's buffer, meter and record it, and advance."""
        n = out.shape[0]
        self.mixer.process(out, outdata)
        self.levels[self.level_count % len(self.levels)] = self.mixer.peaks
        self.level_count += 1
        if self.recorder is not None:
            self.recorder.push(self.mixer.post[:n])
        self.position += n

    def heard(self) -> "AudioCallback":
        """The callback whose blocks are heard: this one (render-ahead's hands over to a streaming one)."""
        return self

    def cross_fade_from(self, stems: np.ndarray) -> None:
        """Fade the next block in from `stems` ((n, 5, 2), the same song samples from another source,
        held until then) to its own stems, so a hand-over between sources makes no click."""
        self._fade_from = stems

    def _fade_in(self, out: np.ndarray, stems: np.ndarray) -> None:
        """out = ramp · out + (1 - ramp) · stems over the block, without allocating."""
        n = out.shape[0]
        up = self._fade_up[:n]
        np.add(self._frame_index[:n], 0.5, out=up)
        np.divide(up, n, out=up)
        np.multiply(out, up[:, None, None], out=out)
        np.subtract(1.0, up, out=up)
        faded = self._lane_block[:n]
        np.multiply(stems[:n], up[:, None, None], out=faded)
        np.add(out, faded, out=out)

    def _input(self, indata: np.ndarray | None, n: int, transport) -> np.ndarray:
        """The next n input samples, (n, 2): from the file player, or the device's input."""
        player = self.player
        if player is None:
            return indata[:, :2]
        if transport.seek_id != self._seek_id:
            self._seek_id = transport.seek_id
            player.seek(transport.seek_to)
        if transport.loop != self._loop:
            self._loop = transport.loop
            player.set_loop(transport.loop)
        block = self._input_block[:n]
        player.fill(block)
        if player.ended and self._finished_at is None:
            self._finished_at = self.position + n
        return block

    def _read_stems(self, out: np.ndarray, start: int) -> None:
        """Fill (n, 5, 2) `out` with the stems and dry mix of stream positions [start, start + n);
        what the lanes have not written yet is silence and counts as an under-run."""
        n = out.shape[0]
        if start + n <= 0:
            out.fill(0.0)
            return
        rings = self.setup.lane_rings
        ready = rings[0].written
        for ring in rings[1:]:
            ready = min(ready, ring.written)
        lead = max(0, -start)  # the first samples of the stream are preceded by silence
        out[:lead] = 0.0
        avail = min(n - lead, max(0, ready - (start + lead)))
        if avail:
            rings[0].read_into(out[lead : lead + avail], start + lead)
            for ring in rings[1:]:
                other = self._lane_block[:avail]
                ring.read_into(other, start + lead)
                out[lead : lead + avail, : len(SOURCES)] += other[:, : len(SOURCES)]
        if avail < n - lead:
            out[lead + avail :] = 0.0
            self._count_xrun(self.position)
            self.underruns += 1

    def _prioritise_audio_thread(self) -> None:
        """Once, from the audio thread itself: ask for a higher priority (allowed for root or with
        CAP_SYS_NICE; silently kept as is otherwise), which keeps the callback on time while
        inference keeps the CPU busy where JACK gives no realtime scheduling."""
        self._prioritised = True
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)


class LevelReader:
    """Meters for one consumer: each call returns the linear peaks of the five strips and the mix
    since that consumer's previous call, (6,)."""

    def __init__(self, callback: AudioCallback):
        self._callback = callback
        self._source = callback.heard()
        self._seen = self._source.level_count

    def __call__(self) -> np.ndarray:
        source = self._callback.heard()
        if source is not self._source:  # a hand-over: the new callback's meters from their start
            self._source, self._seen = source, 0
        ring, count = source.levels, source.level_count
        fresh = min(count - self._seen, len(ring))
        self._seen = count
        if fresh <= 0:
            return np.zeros(ring.shape[1])
        rows = [(count - 1 - k) % len(ring) for k in range(fresh)]
        return ring[rows].max(axis=0)
