"""The live engine: file or input device -> inference process -> mixer -> audio device.

Threads and processes, and who may block:
- the audio callback (PortAudio's or JACK's thread, engine.streaming.audio_callback): moves samples only.
- the inference processes (engine.streaming.worker, one per lane): torch, at lower priority.
- the recorder thread (optional): drains a ring into WAV files.
- whoever controls the engine (CLI, GUI, OSC): sends commands to the control plane.

Latency is fixed when the engine starts: hop + the largest model look-ahead + a safety margin for
the worker's compute time (engine.streaming.timing). The stems and the dry mix come out exactly `latency` samples after
the input went in, and that never changes with weights or mutes.

Audio goes through one of two backends: dannasep's own JACK client (engine.streaming.jack_stream:
a port per stem channel, latency reported to the graph) when a JACK server runs, else PortAudio
(sounddevice), which also reaches JACK, as one client with anonymous channels.
"""

import gc
import sys
import time
from dataclasses import replace
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from dannasep.engine.audio.devices import AudioDeviceError, DeviceInfo, choose_device, release, rescan
from dannasep.engine.audio.reader import AudioInput
from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.control.plane import ControlPlane
from dannasep.engine.control.state import STRIPS, EngineState, StripState, TransportState
from dannasep.engine.errors import DannaSepError
from dannasep.engine.fusion.presets import load_preset
from dannasep.engine.streaming.audio_callback import (
    AudioCallback,
    BlockControl,
    CallbackSetup,
    ControlSlot,
    LevelReader,
)
from dannasep.engine.streaming.config import BACKENDS, EngineStatus, LiveConfig
from dannasep.engine.streaming.lanes import InferenceLane, LaneTotals, split_models, wait_written
from dannasep.engine.streaming.mixer import N_STRIPS
from dannasep.engine.streaming.recorder import Recorder
from dannasep.engine.streaming.rings import SharedRing
from dannasep.engine.streaming.runtimes import resolve_runtime
from dannasep.engine.streaming.worker import (
    CTRL_DROPPED,
    CTRL_WEIGHTS,
    WorkerSpec,
    dropped_models,
    write_weights,
)


class LiveEngine:
    def __init__(self, config: LiveConfig):
        self.config = config
        self.runtime = resolve_runtime(config.runtime)  # what computes the networks
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
                self.audio = self._song_buffer(source.length)
                source.read_into(self.audio)
                self.notes = list(source.notes)
            if config.loop:
                initial = replace(
                    initial, transport=replace(initial.transport, loop=(0.0, self.audio.shape[0] / SAMPLE_RATE))
                )
        self.control = ControlPlane(initial)
        self._ctrl: np.ndarray | None = None
        self.latency_samples = 0
        """End to end: from a sample entering the input ring to its stems leaving the mixer."""
        self.model_provenance: dict[str, str] = {}
        self.trained = False
        self._stream = None
        self._lanes: list[InferenceLane] = []
        self._slot = ControlSlot(BlockControl.of(initial))
        self.callback: AudioCallback | None = None
        """The device's audio callback, from the moment it opens; `heard()` is the one playing."""
        self._recorder: Recorder | None = None
        self.backend = "portaudio"
        """The audio backend in use once started: "jack" (our own client) or "portaudio"."""
        self._device_lost = False
        self.recording_lost_frames = 0

    def _song_buffer(self, length: int) -> np.ndarray:
        """Where the song is decoded to: (length, 2) float32."""
        return np.empty((length, 2), dtype=np.float32)

    @property
    def finished(self) -> bool:
        return self.callback is not None and self.callback.heard().finished

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "LiveEngine":
        """Start the inference process, wait until its models are loaded, then open the device."""
        cfg = self.config
        if cfg.backend not in BACKENDS:
            raise AudioDeviceError(f"unknown audio backend {cfg.backend!r}; use one of {', '.join(BACKENDS)}")
        # a device named for PortAudio (--device, an --input device) is PortAudio's to open
        named = cfg.output_device is not None or cfg.input_device is not None
        wants_jack = cfg.backend == "jack" or (cfg.backend == "auto" and not named)
        jack_client = self._open_jack() if wants_jack else None
        if jack_client is not None:
            self.backend = "jack"
            self.output_device = DeviceInfo(-1, jack_client.name, "JACK client", 2, 12, float(jack_client.samplerate))
        else:
            sd = rescan()
            out_channels = 2 * N_STRIPS if cfg.multichannel else 2
            output = choose_device(cfg.output_device, "output", out_channels)
            input_device = choose_device(cfg.input_device, "input", 2) if cfg.source is None else None
            self.output_device = output
        try:
            self._start_worker()
            if jack_client is not None:
                self._open_jack_stream(jack_client)
            else:
                self._open_stream(sd, output, input_device, out_channels)
        except BaseException:
            if jack_client is not None and self._stream is None:
                jack_client.close()
            self.stop()  # no stray process or shared memory after a failed start
            raise
        return self

    def _open_jack(self):
        """dannasep's JACK client, or None under "auto" when no server answers."""
        from dannasep.engine.streaming.jack_stream import open_client

        client = open_client(self.config.jack.name)
        if client is None and self.config.backend == "jack":
            raise AudioDeviceError(
                "no JACK server answers; start one (e.g. 'jackd -d dummy -r 44100 -p 512' without hardware) "
                "or use --backend portaudio"
            )
        return client

    def _start_worker(self) -> None:
        cfg = self.config
        timing = cfg.timing
        capacity = 1 << int(np.ceil(np.log2(8 * (timing.hop + timing.safety + 8 * SAMPLE_RATE))))
        self._in_ring = SharedRing.create(capacity, (2,))
        self._control_shm = shared_memory.SharedMemory(create=True, size=8 * (CTRL_WEIGHTS + 4 * len(self.models)))
        self._ctrl = np.ndarray((CTRL_WEIGHTS + 4 * len(self.models),), np.float64, self._control_shm.buf)
        self._ctrl[:] = 0.0
        write_weights(self._ctrl, self.models, dict(self.control.state.weights))
        lanes = split_models(self.models, cfg.processes)
        spec = WorkerSpec(
            preset=str(cfg.preset),
            weights_dir=str(cfg.weights_dir) if cfg.weights_dir else None,
            size=cfg.size,
            precision=cfg.precision,
            models=self.models,
            runs=self.models,
            wiener_iterations=cfg.wiener_iterations,
            timing=timing,
            forgetting_seconds=cfg.forgetting_seconds,
            wiener_lookahead_frames=cfg.wiener_lookahead_frames,
            threads=max(1, cfg.threads // len(lanes)),
            runtime=self.runtime,
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
        self.latency_samples = max(int(info["algorithmic_latency"]) for info in infos) + timing.safety
        self.model_provenance = {m: p for info in infos for m, p in info["models"].items()}
        self.trained = all(info["trained"] for info in infos)
        self.control.subscribe(self._on_change)

    def _prepare_callback(self) -> None:
        """The recorder and the audio callback, with the commands applied before the start."""
        cfg = self.config
        self._recorder = Recorder(cfg.record_dir) if cfg.record_dir else None
        if self._recorder:
            self._recorder.start()
        self._slot.publish(BlockControl.of(self.control.state))
        self.callback = self._make_callback(self._callback_setup())
        if self.callback.preroll(self.latency_samples - cfg.timing.safety):  # the first hop's input
            wait_written(self._lanes, cfg.timing.hop, cfg.startup_timeout)

    def _output_layout(self) -> dict[str, bool]:
        """CallbackSetup's multichannel and with_mix: JACK's ports take every strip, and the mix
        unless the output is multichannel; PortAudio's channels take one or the other."""
        if self.backend == "jack":
            return {"multichannel": True, "with_mix": not self.config.multichannel}
        return {"multichannel": self.config.multichannel, "with_mix": False}

    def _settle_for_realtime(self) -> None:
        # everything allocated so far lives for the whole session: keep the garbage collector from
        # walking it (a full collection of torch's objects can take longer than an audio block)
        gc.collect()
        gc.freeze()
        # hand the GIL to the audio thread quickly when control threads (OSC, GUI) are busy
        sys.setswitchinterval(0.001)
        self.callback.last_called = time.monotonic()  # the device gets a grace period to call back

    def _open_jack_stream(self, client) -> None:
        """The JACK backend: the strips, and the mix unless multichannel, each on a labelled port."""
        from dannasep.engine.streaming.jack_stream import JackStream

        cfg = self.config
        self._prepare_callback()
        with_mix = self._output_layout()["with_mix"]
        self._stream = JackStream(client, self.callback, self.latency_samples, cfg.source is None, with_mix, cfg.jack)
        self._settle_for_realtime()
        self._stream.start()

    def latency_changed(self) -> None:
        """Tell the JACK graph about a new latency_samples (a render-ahead fallback to streaming)."""
        if self.backend == "jack" and self._stream is not None:
            self._stream.set_latency(self.latency_samples)

    def port_names(self) -> list[str]:
        """The JACK client's ports, inputs first ([] under PortAudio)."""
        return self._stream.port_names() if self.backend == "jack" and self._stream is not None else []

    def jack_period(self) -> int:
        """Frames per JACK process cycle (the server's, not --blocksize)."""
        return self._stream.blocksize if self.backend == "jack" and self._stream is not None else 0

    def connection_reports(self) -> list[str]:
        """Lines about JACK connections lost and restored since the last call."""
        return self._stream.reports() if self.backend == "jack" and self._stream is not None else []

    def _open_stream(self, sd, output, input_device, out_channels: int) -> None:
        cfg = self.config
        self._prepare_callback()
        kwargs = dict(samplerate=SAMPLE_RATE, blocksize=cfg.blocksize, dtype="float32", callback=self.callback)
        try:
            if input_device is None:
                self._stream = sd.OutputStream(device=output.index, channels=out_channels, **kwargs)
            else:
                self._stream = sd.Stream(
                    device=(input_device.index, output.index), channels=(2, out_channels), **kwargs
                )
            self._settle_for_realtime()
            self._stream.start()
        except sd.PortAudioError as exc:
            self.stop()
            raise AudioDeviceError(f"cannot open {output.name} ({output.host_api}): {exc}") from exc

    def _callback_setup(self) -> CallbackSetup:
        return CallbackSetup(
            in_ring=self._in_ring,
            lane_rings=tuple(lane.out_ring for lane in self._lanes),
            latency=self.latency_samples,
            audio=self.audio,
            recorder=self._recorder,
            **self._output_layout(),
        )

    def _make_callback(self, setup: CallbackSetup) -> AudioCallback:
        return AudioCallback(setup, self._slot)

    def stop(self) -> list[Path]:
        """Stop audio and the worker; returns the recorded files, if recording."""
        recorded: list[Path] = []
        if self.callback is not None:
            self.callback.stopped = True  # a stream left running plays silence, touching no ring
        if self._stream is not None and self.backend == "jack":
            if self._device_lost:
                self._stream.abandon()
            else:
                self._stream.stop()
                self._stream.close()
            self._stream = None
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
        if self._recorder is not None:
            recorded = self._recorder.stop()
            self.recording_lost_frames = self._recorder.lost_frames
            self._recorder = None
        for lane in self._lanes:
            lane.stop(self._ctrl)
            lane.close()
        self._lanes = []
        self.control.unsubscribe(self._on_change)
        ring = getattr(self, "_in_ring", None)
        if ring is not None:
            ring.close()
            self._in_ring = None
        self._ctrl = None  # drop the view before closing its mapping
        shm = getattr(self, "_control_shm", None)
        if shm is not None:
            shm.close()
            shm.unlink()
            self._control_shm = None
        gc.unfreeze()  # what the start froze can go once unreferenced (the app opens song after song)
        return recorded

    def __enter__(self) -> "LiveEngine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- control -----------------------------------------------------------------------------
    def _on_change(self, old: EngineState, new: EngineState, source: str) -> None:
        """The control plane's single delivering thread: new weights to the inference processes,
        the rest to the audio callback, which takes it at its next block."""
        if new.weights != old.weights:
            write_weights(self._ctrl, self.models, dict(new.weights))
        self._slot.publish(BlockControl.of(new))

    # -- status ------------------------------------------------------------------------------
    def status(self) -> EngineStatus:
        totals = LaneTotals.of(self._lanes)
        hop_seconds = self.config.timing.hop / SAMPLE_RATE
        dropped_mask = self._ctrl[CTRL_DROPPED] if self._ctrl is not None else 0.0
        callback = self.callback.heard() if self.callback is not None else None
        player = callback.player if callback is not None else None
        position = player.position if player is not None else (callback.position if callback is not None else 0)
        return EngineStatus(
            position=position / SAMPLE_RATE,
            duration=self.audio.shape[0] / SAMPLE_RATE if self.audio is not None else None,
            playing=self.control.state.transport.playing and not self.finished,
            finished=self.finished,
            latency_samples=self.latency_samples,
            worker_rtf=totals.mean_compute / hop_seconds,
            worker_rtf_max=totals.worst_compute / hop_seconds if totals.hops else 0.0,
            hops=totals.hops,
            underruns=callback.underruns if callback is not None else 0,
            device_underflows=callback.device_underflows if callback is not None else 0,
            worker_overruns=totals.overruns,
            dropped=dropped_models(self.models, dropped_mask),
            cpu_load=float(self._stream.cpu_load) if self._stream is not None else 0.0,
            xrun_seconds=callback.xrun_seconds() if callback is not None else [],
            models=dict(self.model_provenance),
            worker_pids=tuple(lane.process.pid for lane in self._lanes if lane.process is not None),
            backend=self.backend,
            waiting_connections=tuple(self._stream.missing()) if self.backend == "jack" and self._stream else (),
        )

    def level_reader(self) -> LevelReader:
        """A meter source for one consumer (GUI, OSC); call it once the engine has started."""
        return LevelReader(self.callback)

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
        last_called = self.callback.heard().last_called if self.callback is not None else time.monotonic()
        silent_for = time.monotonic() - last_called
        # JACK reports a vanished server (or being dropped by it) through its shutdown callback, so
        # a JACK client kept waiting by a busy machine is not lost; PortAudio only falls silent, and
        # a busy machine can hold a callback back for seconds: only longer means the device is gone
        stalled = self.backend != "jack" and silent_for > max(5.0, 20 * self.config.blocksize / SAMPLE_RATE)
        if self._stream is not None and (not self._stream.active or stalled) and not self.finished:
            self._device_lost = True
            reason = getattr(self._stream, "shut_down", "")  # what JACK said, with our own client
            raise AudioDeviceError(
                f"the audio device {self.output_device.name} stopped (JACK server gone or device unplugged"
                + (f": {reason}" if reason else "")
                + "); what was recorded so far is kept"
            )
