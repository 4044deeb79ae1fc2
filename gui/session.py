"""The app's model, free of Qt: the live engine of the loaded file, the OSC bridge, export jobs.

Loading a file starts a RenderAheadEngine (the offline separation rendered ahead of the playhead;
the streaming LiveEngine when `stream_files` asks for an A/B), live input a LiveEngine, in a
background thread (the models take a few seconds to load) so the window stays responsive;
`poll()` reports when it is ready or why it failed. Every change to gains, mutes, weights or
transport goes through the engine's control plane, which also echoes it to OSC clients; the window
reads the control state on a timer.
"""

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dannasep.engine.audio.reader import AudioInput
from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.control.commands import Command
from dannasep.engine.control.plane import ControlPlane
from dannasep.engine.control.state import EngineState
from dannasep.engine.errors import DannaSepError
from dannasep.engine.fusion.presets import load_preset
from dannasep.engine.osc.bridge import OscBridge, OscConfig
from dannasep.engine.renderahead.engine import RenderAheadEngine
from dannasep.engine.renderahead.settings import RenderAheadSettings
from dannasep.engine.streaming.config import EngineStatus, LiveConfig
from dannasep.engine.streaming.engine import LiveEngine
from dannasep.engine.streaming.timing import LiveOptions
from dannasep.engine.weights.resolve import WeightsChoice, choose_weights
from dannasep.gui.cache_export import CacheExportJob, why_not_from_cache
from dannasep.gui.export_job import ExportJob, ExportRequest


@dataclass
class SessionSettings:
    preset: str = "paper"
    weights_dir: Path | None = None
    """A checkpoint folder (older settings); `weights` wins when set."""
    weights: str | None = None
    """`shipped`, an installed set's name or a folder; None: the shipped live-size weights for playback
    and the first installed paper-size set for export (engine/weights/resolve)."""
    size: str | None = None
    output_device: str | None = None
    multichannel: bool = False
    osc_port: int | None = 9010
    stream_files: bool = False
    """Play files through the streaming engine (as live input plays) instead of render-ahead: an A/B."""
    render: RenderAheadSettings = field(default_factory=RenderAheadSettings)


@dataclass
class Overview:
    """A waveform summary for drawing: peak per column of `samples_per_column`, (columns,)."""

    peaks: np.ndarray
    duration: float


def overview_of(audio: np.ndarray, columns: int = 2000) -> Overview:
    """(frames, channels) -> per-column peak of |audio| over both channels."""
    frames = audio.shape[0]
    columns = max(1, min(columns, frames))
    edges = np.linspace(0, frames, columns + 1).astype(np.int64)
    mono = np.abs(audio).max(axis=1)
    peaks = np.maximum.reduceat(mono, edges[:-1]) if frames else np.zeros(columns)
    return Overview(peaks.astype(np.float32), frames / SAMPLE_RATE)


@dataclass
class Session:
    settings: SessionSettings = field(default_factory=SessionSettings)
    engine: LiveEngine | None = None
    bridge: OscBridge | None = None
    source: Path | None = None
    overview: Overview | None = None
    error: str = ""
    loading: bool = False
    export: ExportJob | CacheExportJob | None = None
    weights: WeightsChoice | None = None
    """The weights of the engine playing (or loading)."""
    live_input: str | None = None
    """The live input playing (or loading): a device's index or name, or "default"; None for a file."""

    def __post_init__(self):
        self._loader: threading.Thread | None = None
        self._generation = 0  # which load() is current; an engine loaded for an older one is stopped
        self._pending: tuple[LiveEngine | None, str] | None = None
        self._lock = threading.Lock()
        self._levels = None
        self.export_note = ""
        # a control plane exists even before a file is loaded, so the window always has a state
        preset = load_preset(self.settings.preset)
        self._idle_control = ControlPlane(EngineState(weights=tuple(preset.weights.items()), preset=preset.name))

    # -- loading -------------------------------------------------------------------------------
    def weights_for(self, streaming: bool) -> WeightsChoice:
        """The weights for playback (`streaming`) or export, from the settings and the preset."""
        option = self.settings.weights if self.settings.weights is not None else self.settings.weights_dir
        models = load_preset(self.settings.preset).models
        return choose_weights(option, models, self.settings.size, streaming)

    @property
    def control(self) -> ControlPlane:
        return self.engine.control if self.engine is not None else self._idle_control

    def load(self, path: Path | None, input_device: str | None = None) -> None:
        """Start playing `path`, or the live `input_device` when path is None; returns at once."""
        self.close_engine()
        generation = self._supersede_loads()
        self.error = ""
        self.loading = True
        self.source = Path(path) if path is not None else None
        self.live_input = None if path is not None else (input_device or "default")
        self._loader = threading.Thread(
            target=self._load,
            args=(self.source, input_device, generation, self._loader),
            name="dannasep-load",
            daemon=True,
        )
        self._loader.start()

    def load_input(self, device: str | None) -> None:
        """Separate live input from `device` (an index or part of a name) through the streaming engine;
        None or "default": JACK when a server runs, else PortAudio's default input."""
        self.load(None, None if device in (None, "default") else device)

    def reload(self) -> None:
        """Restart what plays (the live input or the file) with the current settings; returns at once."""
        if self.live_input is not None:
            self.load_input(self.live_input)
        elif self.source is not None:
            self.load(self.source)

    def _supersede_loads(self) -> int:
        """Make every earlier load() stale: an engine it already delivered is stopped here, one still
        loading is stopped by its loader when it is ready. Returns the new generation."""
        with self._lock:
            self._generation += 1
            pending, self._pending = self._pending, None
        if pending is not None and pending[0] is not None:
            pending[0].stop()
        return self._generation

    def _load(
        self, path: Path | None, input_device: str | None, generation: int, previous: threading.Thread | None
    ) -> None:
        if previous is not None:
            previous.join()  # PortAudio is not thread-safe: one loader opens or stops a device at a time
        if generation != self._generation:
            return  # superseded before it began
        try:
            if path is not None:
                with AudioInput.open(path):
                    pass  # a clear error for unreadable files before any engine starts
            timing, processes = LiveOptions().resolve(self.settings.preset)  # the preset's [live] table
            weights = self.weights_for(streaming=True)
            self.weights = weights
            config = LiveConfig(
                source=path,
                input_device=input_device,
                output_device=self.settings.output_device,
                multichannel=self.settings.multichannel,
                preset=self.settings.preset,
                weights_dir=weights.folder,
                size=weights.size,
                processes=processes,
                timing=timing,
            )
            # files render ahead; live input (and the A/B choice) streams
            render = path is not None and not self.settings.stream_files
            engine = RenderAheadEngine(config, self.settings.render) if render else LiveEngine(config)
            engine.control.apply(self._carry_over(), source="gui")
            engine.start()
            result = (engine, "")
        except DannaSepError as exc:
            result = (None, str(exc))
        except Exception as exc:
            result = (None, f"{type(exc).__name__}: {exc}")
        with self._lock:
            if generation == self._generation:
                self._pending = result
                return
        if result[0] is not None:  # superseded while loading (another file, or the app closing)
            result[0].stop()

    def _carry_over(self) -> list[Command]:
        """Mixer settings the user made before (or while) loading survive the new file."""
        from dannasep.engine.control.commands import SetGain, SetMute, SetSolo, SetWeights

        state = self._idle_control.state
        commands: list[Command] = [SetWeights(state.weights, state.preset)]
        for name, strip in zip(("drums", "bass", "other", "vocals", "dry"), state.strips, strict=True):
            commands += [SetGain(name, strip.gain_db), SetMute(name, strip.mute)]
            if name != "dry":
                commands.append(SetSolo(name, strip.solo))
        return commands

    def poll(self) -> str | None:
        """Called by the window's timer. Returns "ready", "failed" or None (nothing new)."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            if self.engine is not None:
                try:
                    self.engine.check_health()
                except DannaSepError as exc:
                    self.error = str(exc)
                    self.close_engine()
                    return "failed"
            return None
        engine, error = pending
        self.loading = False
        if engine is None:
            self.error = error
            return "failed"
        self.engine = engine
        self.overview = overview_of(engine.audio) if engine.audio is not None else None
        self._levels = engine.level_reader()
        self._start_osc()
        return "ready"

    def _start_osc(self) -> None:
        if self.settings.osc_port is None or self.engine is None:
            return
        try:
            self.bridge = OscBridge(
                self.engine.control,
                OscConfig(port=self.settings.osc_port),
                latency_samples=lambda: self.engine.latency_samples if self.engine else 0,
                levels=self.engine.level_reader(),
            )
            self.bridge.start()
        except DannaSepError as exc:
            self.bridge = None
            self.error = f"OSC is off: {exc}"

    def close_engine(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        if self.engine is not None:
            # the mixer and fusion settings outlive the engine and carry over to the next file
            self._idle_control = ControlPlane(self.engine.control.state)
            self.engine.stop()
            self.engine = None
        self._levels = None

    # -- state for the window -----------------------------------------------------------------
    def apply(self, commands: list[Command]) -> None:
        self.control.apply(commands, source="gui")

    def status(self) -> EngineStatus | None:
        return self.engine.status() if self.engine is not None else None

    def levels(self) -> np.ndarray:
        return self._levels() if self._levels is not None else np.zeros(6)

    def audible_position(self) -> float:
        """What the listener hears now: the stream position minus the latency."""
        status = self.status()
        if status is None:
            return 0.0
        return max(0.0, status.position - status.latency_samples / SAMPLE_RATE)

    # -- export ---------------------------------------------------------------------------------
    def start_export(self, request: ExportRequest) -> ExportJob | CacheExportJob:
        """The instant export from the render cache when it holds what the offline export would
        compute (`export_note` says why not otherwise), else the offline export."""
        if self.export is not None and self.export.state == "running":
            raise DannaSepError("an export is already running")
        self.export_note = why_not_from_cache(self.engine, self.source, request)
        if self.export_note:
            self.export = ExportJob(request)
        else:
            self.export = CacheExportJob(request, self.engine)
        return self.export

    def shutdown(self) -> None:
        """Stop everything this session started, a load in progress included (waited for, so no
        device is being opened once this returns)."""
        if self.export is not None:
            self.export.cancel()
        self._supersede_loads()
        loader = self._loader
        if loader is not None and loader.is_alive():
            loader.join()
        self.close_engine()
