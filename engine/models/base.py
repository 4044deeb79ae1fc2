"""What every separation network promises the engine, and the registry that builds them by name.

A network maps either a magnitude spectrogram (B, 2, 2049, T) to non-negative masks
(B, 4, 2, 2049, T), or a waveform (B, 2, L) to waveforms (B, 4, 2, L') with L' <= L, left-aligned.
`engine.separation.estimators` turns both kinds into waveform -> stems.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from torch import nn

from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.dsp.stft_grid import stft_multiple_covering
from dannasep.engine.errors import PresetError

InputDomain = Literal["magnitude", "waveform"]


@dataclass(frozen=True)
class InferenceSettings:
    """How a model is run over long signals (not part of the architecture or its checkpoint).

    segment_seconds: the part of each chunk that is kept.
    overlap: fraction of the segment shared with the next chunk (cross-faded).
    context_seconds: real audio fed on each side of the kept part and then cropped away.
    The stream_* fields set the same for the live engine's sliding windows.
    """

    segment_seconds: float = 30.0
    overlap: float = 0.25
    context_seconds: float = 2.0
    stream_context_seconds: float = 1.0
    """Streaming: past audio in each window before the hop."""
    stream_lookahead_seconds: float = 0.5
    """Streaming: future audio in each window after the hop (the model's latency)."""


@dataclass(frozen=True)
class ModelTraits:
    """The protocol facts of a built model: what the engine needs to know to run it."""

    architecture: str
    config_name: str
    input_domain: InputDomain
    sample_rate: int
    sources: tuple[str, ...]
    context_samples: int
    """Real context needed on each side of a chunk for full-quality output."""
    stream_context_samples: int
    """Streaming: past input in each window, a multiple of the STFT hop."""
    stream_lookahead_samples: int
    """Streaming: future input needed before an output sample is final, a multiple of the STFT
    hop (the model's share of the live latency)."""


class SeparationNet(nn.Module):
    """Base class of the four architectures; subclasses set the class attributes."""

    architecture: ClassVar[str]
    input_domain: ClassVar[InputDomain]
    config_class: ClassVar[type]

    def __init__(self, config: Any, config_name: str = "custom", inference: InferenceSettings | None = None):
        super().__init__()
        self.config = config
        self.config_name = config_name
        self.inference = inference or InferenceSettings()
        self.checkpoint_info: dict[str, Any] | None = None
        """The sidecar of the checkpoint the weights came from; None for random weights."""

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def sources(self) -> tuple[str, ...]:
        return SOURCES

    inference_only: bool = False
    """Set by `fuse_for_inference`: the state dict no longer matches a checkpoint."""

    def fuse_for_inference(self) -> None:
        """Rewrite the network for faster inference with the same outputs (to float rounding),
        e.g. batch norms folded into convolutions. Default: nothing to do."""

    def min_lookahead_samples(self) -> int:
        """Look-ahead the network needs at least for a clean window edge (STFT half-window, the
        samples a waveform network drops at the end)."""
        return 0

    def min_input_length(self) -> int:
        """The shortest input (samples) the network accepts (its poolings or strides need)."""
        return 1

    def time_grid_samples(self) -> int:
        """The shift of the input (samples) that moves every time grid inside the network (STFT
        frames, strides, poolings, attention blocks) by whole steps: two windows whose starts
        differ by a multiple of it compute the same features for the samples they share, apart
        from what their edges change."""
        return 1

    @property
    def normalises_input(self) -> bool:
        """Whether the network standardises its input by the input's own mean and std (Demucs). Its
        forward then also takes `statistics=(mean, std)`, each (B, 1, 1), to use instead: a stream
        passes long-term ones, since a short window's own move the network's operating point from
        window to window."""
        return False

    @property
    def traits(self) -> ModelTraits:
        lookahead = round(self.inference.stream_lookahead_seconds * self.sample_rate)
        context = round(self.inference.stream_context_seconds * self.sample_rate)
        return ModelTraits(
            architecture=self.architecture,
            config_name=self.config_name,
            input_domain=self.input_domain,
            sample_rate=self.sample_rate,
            sources=self.sources,
            context_samples=round(self.inference.context_seconds * self.sample_rate),
            stream_context_samples=stft_multiple_covering(context),
            stream_lookahead_samples=stft_multiple_covering(max(lookahead, self.min_lookahead_samples())),
        )

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


_REGISTRY: dict[str, type[SeparationNet]] = {}


def register(cls: type[SeparationNet]) -> type[SeparationNet]:
    """Class decorator adding an architecture to the registry under ``cls.architecture``."""
    _REGISTRY[cls.architecture] = cls
    return cls


def architectures() -> dict[str, type[SeparationNet]]:
    # importing the package registers every architecture
    import dannasep.engine.models  # noqa: F401

    return dict(_REGISTRY)


def architecture_class(name: str) -> type[SeparationNet]:
    known = architectures()
    if name not in known:
        raise PresetError(f"unknown model architecture {name!r}; known: {', '.join(sorted(known))}")
    return known[name]


def config_from_dict(config_class: type, values: dict[str, Any], where: str) -> Any:
    """Build a frozen config dataclass, naming the unknown or mistyped keys in the error."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise PresetError(f"{where}: unknown {config_class.__name__} keys {unknown}; known: {sorted(fields)}")
    converted = {}
    for key, value in values.items():
        default = getattr(config_class(), key)
        if isinstance(default, tuple):
            value = tuple(value)
        if type(default) is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, type(default)):
            raise PresetError(f"{where}: {key} must be {type(default).__name__}, got {value!r}")
        converted[key] = value
    return config_class(**converted)


def build_model(
    architecture: str,
    config: Any | None = None,
    config_name: str = "custom",
    inference: InferenceSettings | None = None,
) -> SeparationNet:
    """Instantiate an architecture with a config dataclass (or its default)."""
    cls = architecture_class(architecture)
    return cls(config or cls.config_class(), config_name=config_name, inference=inference)
