"""The live engine: file or input device -> inference process -> mixer -> audio device.

Threads and processes, and who may block:
- the audio callback (PortAudio's thread): moves samples only. It reads the latest control state
  (a reference), feeds the stream (file player or device input) into the input ring, reads the
  hop results `latency` samples later from the output ring, mixes, meters, and counts under-runs.
  No torch, no files, no locks, no logging, no allocation of buffers.
- the inference process (engine.streaming.worker): torch, at lower priority.
- the recorder thread (optional): drains a ring into WAV files.
- whoever controls the engine (CLI, GUI, OSC): sends commands to the control plane.

Latency is fixed when the engine starts: hop + the largest model look-ahead + a safety margin for
the worker's compute time. The stems and the dry mix come out exactly `latency` samples after
the input went in, and that never changes with weights or mutes.
"""

import contextlib
import gc
import os
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from dannasep.engine.audio.devices import AudioDeviceError, choose_device, release, rescan
from dannasep.engine.audio.reader import AudioInput
from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE, SOURCES
from dannasep.engine.control.plane import ControlPlane
from dannasep.engine.control.state import STRIPS, EngineState, StripState, TransportState
from dannasep.engine.errors import DannaSepError
from dannasep.engine.separation.fusion import load_preset
from dannasep.engine.streaming.lanes import InferenceLane, split_models
from dannasep.engine.streaming.mixer import N_STRIPS, Mixer
from dannasep.engine.streaming.player import FilePlayer
from dannasep.engine.streaming.recorder import Recorder
from dannasep.engine.streaming.rings import SharedRing
from dannasep.engine.streaming.worker import (
    CTRL_DROPPED,
    CTRL_WEIGHTS,
    STAT_COMPUTE_MAX,
    STAT_COMPUTE_TOTAL,
    STAT_HOPS,
    STAT_OVERRUNS,
    STAT_SIZE,
    WorkerSpec,
    dropped_models,
    write_weights,
)

MAX_BLOCK = 8192


@dataclass(frozen=True)
class LiveConfig:
    """What the live engine plays and how. `source` is a file; None means the input device."""

    source: Path | None = None
    input_device: str | int | None = None
    output_device: str | int | None = None
    multichannel: bool = False
    blocksize: int = 512
    preset: str | Path = "paper"
    weights_dir: Path | None = None
    size: str | None = None
    precision: str = "auto"
    wiener_iterations: int = 1
    hop: int = 43 * HOP_LENGTH
    crossfade: int = 4 * HOP_LENGTH
    safety: int | None = None
    """Samples of margin for the worker's compute; default one hop."""
    lookahead_seconds: float | None = None
    """Future audio each model sees after the hop; None keeps each checkpoint's own (0.5 s). Less
    lowers latency and quality; every model still gets at least the cross-fade plus its minimum."""
    context_seconds: float | None = None
    """Past audio in each window before the hop; None keeps each checkpoint's own (1 s). Less
    makes every hop cheaper (short hops need it) at some cost in quality; latency is unchanged."""
    forgetting_seconds: float = 2.0
    wiener_lookahead_frames: int = 4
    threads: int = 2
    processes: int = 1
    """Inference processes the models are split between (see streaming.lanes); each gets
    threads / processes threads. Two on a 2-core machine run the U-Net beside X-UMX + Demucs."""
    worker_nice: int = 0
    """Scheduling niceness of the inference process. Lowering its priority helps the audio only
    while nothing else is busy; a busy program then takes the CPU the models need."""
    idle_priority: bool = False
    """Run inference only when the CPU is otherwise idle (Linux SCHED_IDLE). Keeps audio safest on
    a quiet machine, but any busy program then starves the models; off by default."""
    record_dir: Path | None = None
    loop: bool = False
    startup_timeout: float = 120.0


@dataclass
class EngineStatus:
    position: float
    duration: float | None
    playing: bool
    finished: bool
    latency_samples: int
    worker_rtf: float
    worker_rtf_max: float
    hops: int
    underruns: int
    device_underflows: int
    worker_overruns: int
    cpu_load: float
    xrun_seconds: list[float]
    """Stream positions of the first under-runs and device underflows, for diagnosis."""
    worker_pids: tuple[int, ...] = ()
    """The inference processes (one per lane)."""
    models: dict[str, str] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()
    """Models the inference process stopped running because it kept falling behind."""


class LevelReader:
    def __init__(self, engine: "LiveEngine"):
        self._engine = engine
        self._seen = engine._level_count

    def __call__(self) -> np.ndarray:
        ring, count = self._engine._levels, self._engine._level_count
        fresh = min(count - self._seen, len(ring))
        self._seen = count
        if fresh <= 0:
            return np.zeros(ring.shape[1])
        rows = [(count - 1 - k) % len(ring) for k in range(fresh)]
        return ring[rows].max(axis=0)


class LiveEngine:
    def __init__(self, config: LiveConfig):
        self.config = config
        preset = load_preset(config.preset)
        self.models: tuple[str, ...] = tuple(preset.models)
        initial = EngineState(
            strips=tuple(StripState() for _ in STRIPS),
            weights=tuple((m, preset.weights[m]) for m in self.models),
            preset=preset.name,
            transport=TransportState(playing=True, loop=None),
        )
        self.audio: np.ndarray | None = None
        self.notes: list[str] = []
        if config.source is not None:
            with AudioInput.open(config.source) as source:
                self.audio = source.read_all().T.copy()
                self.notes = list(source.notes)
            if config.loop:
                initial = replace(
                    initial, transport=replace(initial.transport, loop=(0.0, self.audio.shape[0] / SAMPLE_RATE))
                )
        self.control = ControlPlane(initial)
        self._ctrl: np.ndarray | None = None
        self.latency_samples = 0
        self.model_provenance: dict[str, str] = {}
        self.trained = False
        self._stream = None
        self._lanes: list[InferenceLane] = []
        self._lane_rings: list[SharedRing] = []
        self._started = False
        self._last_callback = time.monotonic()
        self._device_lost = False
        self._prioritised = False
        self._levels = np.zeros((64, N_STRIPS + 1))  # per-block peaks, newest at _level_count - 1
        self._level_count = 0
        self._xrun_positions = np.zeros(16, dtype=np.int64)  # where the first xruns happened
        self._callback_seconds = np.zeros(1 << 16)  # duration of the latest callbacks, a ring
        self._callback_count = 0
        self.underruns = 0
        self.recording_lost_frames = 0
        self.device_underflows = 0
        self._position = 0  # stream samples fed so far
        self._finished_at: int | None = None
        self.finished = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "LiveEngine":
        """Start the inference process, wait until its models are loaded, then open the device."""
        cfg = self.config
        sd = rescan()
        out_channels = 2 * N_STRIPS if cfg.multichannel else 2
        output = choose_device(cfg.output_device, "output", out_channels)
        input_device = choose_device(cfg.input_device, "input", 2) if cfg.source is None else None
        self.output_device = output
        try:
            self._start_worker()
            self._open_stream(sd, output, input_device, out_channels)
        except BaseException:
            self.stop()  # no stray process or shared memory after a failed start
            raise
        return self

    def _start_worker(self) -> None:
        cfg = self.config
        safety = cfg.safety if cfg.safety is not None else cfg.hop
        capacity = 1 << int(np.ceil(np.log2(8 * (cfg.hop + safety + 8 * SAMPLE_RATE))))
        self._in_ring = SharedRing.create(capacity, (2,))
        self._control_shm = shared_memory.SharedMemory(create=True, size=8 * (CTRL_WEIGHTS + 4 * len(self.models)))
        self._ctrl = np.ndarray((CTRL_WEIGHTS + 4 * len(self.models),), np.float64, self._control_shm.buf)
        self._ctrl[:] = 0.0
        write_weights(self._ctrl, self.models, self.control.state.normalised_weights())
        lanes = split_models(self.models, cfg.processes)
        spec = WorkerSpec(
            preset=str(cfg.preset),
            weights_dir=str(cfg.weights_dir) if cfg.weights_dir else None,
            size=cfg.size,
            precision=cfg.precision,
            models=self.models,
            runs=self.models,
            wiener_iterations=cfg.wiener_iterations,
            hop=cfg.hop,
            crossfade=cfg.crossfade,
            safety=safety,
            lookahead_seconds=cfg.lookahead_seconds,
            context_seconds=cfg.context_seconds,
            forgetting_seconds=cfg.forgetting_seconds,
            wiener_lookahead_frames=cfg.wiener_lookahead_frames,
            threads=max(1, cfg.threads // len(lanes)),
            nice=cfg.worker_nice,
            idle_priority=cfg.idle_priority,
            in_ring=self._in_ring.name,
            in_capacity=capacity,
            out_ring="",
            out_capacity=capacity,
            control=self._control_shm.name,
            stats="",
        )
        self._lanes = [InferenceLane(runs, capacity) for runs in lanes]
        for lane in self._lanes:
            lane.start(spec)
        infos = [lane.wait_ready(cfg.startup_timeout) for lane in self._lanes]
        # every lane's hop k lands at stream position k·hop; the slowest lane sets the latency
        self.latency_samples = max(int(info["algorithmic_latency"]) for info in infos) + safety
        self.model_provenance = {m: p for info in infos for m, p in info["models"].items()}
        self.trained = all(info["trained"] for info in infos)
        self._lane_rings = [lane.out_ring for lane in self._lanes]
        self.control.subscribe(self._on_change)

    def _open_stream(self, sd, output, input_device, out_channels: int) -> None:
        cfg = self.config
        block = cfg.blocksize
        self._mixer = Mixer(MAX_BLOCK, ramp=int(0.01 * SAMPLE_RATE), multichannel=cfg.multichannel)
        self._apply_mixer(self.control.state, immediately=True)
        self._player = FilePlayer(self.audio, MAX_BLOCK) if self.audio is not None else None
        self._loop = None
        self._input_block = np.zeros((MAX_BLOCK, 2), dtype=np.float32)
        self._output_block = np.zeros((MAX_BLOCK, len(SOURCES) + 1, 2), dtype=np.float32)
        self._lane_block = np.zeros_like(self._output_block)
        self._seek_id = self.control.state.transport.seek_id
        self._recorder = Recorder(cfg.record_dir) if cfg.record_dir else None
        if self._recorder:
            self._recorder.start()
        kwargs = dict(
            samplerate=SAMPLE_RATE, blocksize=block, dtype="float32", callback=self._callback, finished_callback=None
        )
        try:
            if input_device is None:
                self._stream = sd.OutputStream(device=output.index, channels=out_channels, **kwargs)
            else:
                self._stream = sd.Stream(
                    device=(input_device.index, output.index), channels=(2, out_channels), **kwargs
                )
            # everything allocated so far lives for the whole session: keep the garbage collector from
            # walking it (a full collection of torch's objects can take longer than an audio block)
            gc.collect()
            gc.freeze()
            # hand the GIL to the audio thread quickly when control threads (OSC, GUI) are busy
            sys.setswitchinterval(0.001)
            self._last_callback = time.monotonic()  # the device gets a grace period to call back
            self._stream.start()
        except sd.PortAudioError as exc:
            self.stop()
            raise AudioDeviceError(f"cannot open {output.name} ({output.host_api}): {exc}") from exc
        self._started = True

    def stop(self) -> list[Path]:
        """Stop audio and the worker; returns the recorded files, if recording."""
        recorded: list[Path] = []
        if self._stream is not None:
            if self._device_lost:
                # A dead JACK server can acknowledge neither a stop nor PortAudio's shutdown: leave the
                # stream to the OS, and keep sounddevice from terminating PortAudio at exit (it would hang).
                import atexit

                import sounddevice

                atexit.unregister(sounddevice._exit_handler)
            else:
                self._stream.stop()
                self._stream.close()
                release()  # PortAudio and its JACK client, until the next start rescans
            self._stream = None
        if getattr(self, "_recorder", None):
            recorded = self._recorder.stop()
            self.recording_lost_frames = self._recorder.lost_frames
            self._recorder = None
        for lane in self._lanes:
            lane.stop(self._ctrl)
        self.control.unsubscribe(self._on_change)
        ring = getattr(self, "_in_ring", None)
        if ring is not None:
            ring.close()
            self._in_ring = None
        for lane in self._lanes:
            lane.close()
        self._lanes, self._lane_rings = [], []
        self._ctrl = None  # drop the view before closing its mapping
        shm = getattr(self, "_control_shm", None)
        if shm is not None:
            shm.close()
            shm.unlink()
            self._control_shm = None
        return recorded

    def __enter__(self) -> "LiveEngine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- control -----------------------------------------------------------------------------
    def _on_change(self, old: EngineState, new: EngineState, source: str) -> None:
        if new.weights != old.weights:
            write_weights(self._ctrl, self.models, new.normalised_weights())
        self._apply_mixer(new)
        self._state = new

    def _apply_mixer(self, state: EngineState, immediately: bool = False) -> None:
        split = 1.0 if state.monitor == "split" else 0.0
        self._mixer.set_targets([state.effective_gain(s) for s in STRIPS], split, 1.0 - split, immediately)
        self._state = state

    # -- the audio callback ------------------------------------------------------------------
    def _callback(self, *args) -> None:
        began = time.perf_counter()
        self._fill(*args)
        self._callback_seconds[self._callback_count % len(self._callback_seconds)] = time.perf_counter() - began
        self._callback_count += 1

    def callback_durations(self) -> np.ndarray:
        """Seconds each of the latest (up to 65,536) audio callbacks took, oldest first."""
        count, ring = self._callback_count, self._callback_seconds
        if count <= len(ring):
            return ring[:count].copy()
        return np.roll(ring, -(count % len(ring))).copy()

    def _fill(self, *args) -> None:
        if len(args) == 5:  # duplex: indata, outdata, frames, time, status
            indata, outdata, frames, _time, status = args
        else:
            indata, (outdata, frames, _time, status) = None, args
        self._last_callback = time.monotonic()
        if not self._prioritised:
            self._prioritise_audio_thread()
        if status.output_underflow:
            if self.underruns + self.device_underflows < len(self._xrun_positions):
                self._xrun_positions[self.underruns + self.device_underflows] = self._position
            self.device_underflows += 1
        state = self._state
        transport = state.transport
        if not transport.playing or self.finished:
            outdata.fill(0.0)
            return
        n = frames
        p = self._position
        player = self._player
        if player is not None:
            if transport.seek_id != self._seek_id:
                self._seek_id = transport.seek_id
                player.seek(transport.seek_to)
            if transport.loop != self._loop:
                self._loop = transport.loop
                player.set_loop(transport.loop)
            block = self._input_block[:n]
            player.fill(block)
            if player.ended and self._finished_at is None:
                self._finished_at = p + n
        else:
            block = indata[:, :2]
        self._in_ring.write(block)
        # output: the stream position `latency` samples ago
        start = p - self.latency_samples
        out = self._output_block[:n]
        rings = self._lane_rings
        ready = rings[0].written
        for ring in rings[1:]:
            ready = min(ready, ring.written)
        if start + n <= 0:
            out.fill(0.0)
        else:
            lead = max(0, -start)  # the first samples of the stream are preceded by silence
            out[:lead] = 0.0
            avail = min(n - lead, max(0, ready - (start + lead)))
            if avail:
                rings[0].read_into(out[lead : lead + avail], start + lead)
                for ring in rings[1:]:  # the other lanes' stems add up; lane 0 carries the dry mix
                    other = self._lane_block[:avail]
                    ring.read_into(other, start + lead)
                    out[lead : lead + avail, : len(SOURCES)] += other[:, : len(SOURCES)]
            if avail < n - lead:
                out[lead + avail :] = 0.0
                if self.underruns + self.device_underflows < len(self._xrun_positions):
                    self._xrun_positions[self.underruns + self.device_underflows] = p
                self.underruns += 1
        self._mixer.process(out, outdata)
        self._levels[self._level_count % len(self._levels)] = self._mixer.peaks
        self._level_count += 1
        if self._recorder is not None:
            self._recorder.push(self._mixer.post[:n])
        self._position = p + n
        if self._finished_at is not None and self._position >= self._finished_at + self.latency_samples:
            self.finished = True

    def _prioritise_audio_thread(self) -> None:
        """Once, from the audio thread itself: ask for a higher priority (allowed for root or with
        CAP_SYS_NICE; silently kept as is otherwise). Without JACK realtime scheduling this is what
        keeps the callback on time while inference keeps the CPU busy."""
        self._prioritised = True
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)

    # -- status ------------------------------------------------------------------------------
    def status(self) -> EngineStatus:
        lanes = [lane.stats for lane in self._lanes] or [np.zeros(STAT_SIZE)]
        hops = min(int(stats[STAT_HOPS]) for stats in lanes)
        hop_seconds = self.config.hop / SAMPLE_RATE
        # lanes run side by side: the slowest one is the engine's real-time factor
        mean = max(stats[STAT_COMPUTE_TOTAL] / stats[STAT_HOPS] if stats[STAT_HOPS] else 0.0 for stats in lanes)
        worst = max(float(stats[STAT_COMPUTE_MAX]) for stats in lanes)
        dropped_mask = self._ctrl[CTRL_DROPPED] if self._ctrl is not None else 0.0
        player = getattr(self, "_player", None)
        return EngineStatus(
            position=(player.position if player else self._position) / SAMPLE_RATE,
            duration=self.audio.shape[0] / SAMPLE_RATE if self.audio is not None else None,
            playing=self.control.state.transport.playing and not self.finished,
            finished=self.finished,
            latency_samples=self.latency_samples,
            worker_rtf=mean / hop_seconds,
            worker_rtf_max=worst / hop_seconds if hops else 0.0,
            hops=hops,
            underruns=self.underruns,
            device_underflows=self.device_underflows,
            worker_overruns=sum(int(stats[STAT_OVERRUNS]) for stats in lanes),
            dropped=dropped_models(self.models, dropped_mask),
            cpu_load=float(self._stream.cpu_load) if self._stream is not None else 0.0,
            xrun_seconds=[
                round(float(p) / SAMPLE_RATE, 3)
                for p in self._xrun_positions[: min(16, self.underruns + self.device_underflows)]
            ],
            models=dict(self.model_provenance),
            worker_pids=tuple(lane.process.pid for lane in self._lanes if lane.process is not None),
        )

    def level_reader(self) -> "LevelReader":
        """A meter source for one consumer (GUI, OSC): each call returns the linear peaks of the
        five strips and the mix since that consumer's previous call."""
        return LevelReader(self)

    def wait(self, seconds: float | None = None, poll: float = 0.1) -> bool:
        """Block until the file finished (True) or `seconds` passed (False)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while not self.finished:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self.check_health()
            time.sleep(poll)
        return True

    def check_health(self) -> None:
        """Raise if the audio device or the inference process went away."""
        if any(lane.process is not None and not lane.process.is_alive() for lane in self._lanes):
            raise DannaSepError("the inference process stopped unexpectedly")
        silent_for = time.monotonic() - self._last_callback
        stalled = silent_for > max(2.0, 20 * self.config.blocksize / SAMPLE_RATE)
        if self._stream is not None and (not self._stream.active or stalled) and not self.finished:
            self._device_lost = True
            raise AudioDeviceError(
                f"the audio device {self.output_device.name} stopped (JACK server gone or device unplugged); "
                "what was recorded so far is kept"
            )
