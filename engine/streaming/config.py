"""What a live engine is asked to do (LiveConfig) and what it reports (EngineStatus), without the
engine: the CLI, the app and the benches build and read these."""

from dataclasses import dataclass, field
from pathlib import Path

from dannasep.engine.audio.jack_ports import JackOptions
from dannasep.engine.streaming.timing import LiveTiming

BACKENDS = ("auto", "jack", "portaudio")


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
    runtime: str = "auto"
    """What computes the networks: "torch", "onnxruntime" (float32 whatever the precision), or "auto":
    ONNX Runtime where installed (engine.models.onnx_runner)."""
    wiener_iterations: int = 1
    timing: LiveTiming = field(default_factory=LiveTiming)
    """Hop, cross-fade, safety, look-ahead and context, in samples. Less look-ahead lowers latency
    and quality; less context makes every hop cheaper (short hops need it) at some cost in quality."""
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
    backend: str = "auto"
    """"jack": dannasep's own JACK client; "portaudio": sounddevice; "auto": JACK when a server answers
    and no PortAudio device is named."""
    jack: JackOptions = field(default_factory=JackOptions)


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
    backend: str = "portaudio"
    waiting_connections: tuple[str, ...] = ()
    """JACK connections whose other port went away, restored when it comes back ("ours -> theirs")."""
    models: dict[str, str] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()
    """Models the inference process stopped running because it kept falling behind."""
