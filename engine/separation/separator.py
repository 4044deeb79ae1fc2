"""The public offline API: load the models of a fusion preset once, then separate many signals
or files with bounded memory.

    from dannasep.engine.separation.separator import Separator, SeparatorConfig
    sep = Separator(SeparatorConfig(preset="paper"))
    stems = sep.separate(mix, sample_rate=48000)          # (2, time) -> (4, 2, time) at 44.1 kHz
    result = sep.separate_file("song.flac", ExportOptions(out_dir=Path("stems")))

Which weights: a checkpoint folder (default: the shipped presets/weights) is searched for each
model the preset needs; ``size`` picks between configs ("live" or "paper"). A model without a
checkpoint runs with random weights only when allowed, and says so loudly.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr
import torch

from dannasep.engine.audio.reader import AudioInput
from dannasep.engine.audio.writer import AudioFormat, StemWriter, ensure_writable_folder, stale_note
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.errors import CheckpointError, DannaSepError, OutputError
from dannasep.engine.fusion.presets import FusionPreset, load_preset
from dannasep.engine.models.base import SeparationNet
from dannasep.engine.models.checkpoint import load_checkpoint
from dannasep.engine.models.configs import load_model_config
from dannasep.engine.models.cpu_inference import prepare_for_cpu_inference
from dannasep.engine.paths import shipped_weights_dir
from dannasep.engine.separation.config import MODEL_SIZES, SeparatorConfig
from dannasep.engine.separation.estimators import StemEstimator
from dannasep.engine.separation.naming import OutputNaming
from dannasep.engine.separation.runner import Progress, separate_array, separate_stream
from dannasep.engine.weights.sidecars import find_checkpoints


@dataclass(frozen=True)
class LoadedModel:
    estimator: StemEstimator
    provenance: str
    trained: bool

    @property
    def model(self) -> SeparationNet:
        return self.estimator.model


@dataclass
class SeparationResult:
    input: Path
    outputs: dict[str, Path]
    seconds_of_audio: float
    seconds_taken: float
    notes: list[str] = field(default_factory=list)
    clipped: dict[str, int] = field(default_factory=dict)

    @property
    def real_time_factor(self) -> float:
        return self.seconds_taken / max(self.seconds_of_audio, 1e-9)


def _pick_checkpoint(arch: str, candidates: list[Path], size: str | None) -> Path | None:
    by_name = {p.stem.split("-", 1)[-1]: p for p in candidates}
    if size is not None:
        return by_name.get(size)
    if "live" in by_name:
        return by_name["live"]
    return candidates[0] if len(candidates) == 1 else None


def describe_checkpoint(path: Path, sidecar: dict) -> str:
    """The checkpoint's path and what its sidecar says it is: how it was made, from which file."""
    training = sidecar.get("training", {}) if isinstance(sidecar.get("training"), dict) else {}
    details = [str(training.get("how", "")).strip()]
    if training.get("source_file"):
        details.append(f"from {training['source_file']} (sha256 {str(training.get('source_sha256', ''))[:16]}…)")
    details = [d for d in details if d]
    return f"{path}" + (f" ({'; '.join(details)})" if details else "")


def load_model(arch: str, config: SeparatorConfig) -> LoadedModel:
    """The checkpoint of `arch` in the weights folder (shipped weights by default), ready for CPU
    inference; a seeded random network flagged UNTRAINED when none is there and that is allowed."""
    folder = Path(config.weights_dir) if config.weights_dir else shipped_weights_dir()
    candidates = find_checkpoints(folder).get(arch, [])
    chosen = _pick_checkpoint(arch, candidates, config.size)
    if chosen is not None:
        model = load_checkpoint(chosen, architecture=arch)
        trained = "untrained" not in str(model.checkpoint_info.get("training", {}).get("how", ""))
        provenance = describe_checkpoint(chosen, model.checkpoint_info)
    else:
        if config.weights_dir is not None or not config.allow_untrained:
            have = ", ".join(p.name for p in candidates) or "none"
            raise CheckpointError(
                f"{folder}: no {arch} checkpoint of size {config.size or 'live'} "
                f"(found: {have}); train or import one, or choose another --preset"
            )
        size = config.size or "live"
        torch.manual_seed(0)  # the same random weights every run, so results are reproducible
        model = load_model_config(arch, size).build()
        trained = False
        provenance = f"UNTRAINED {arch}-{size} (random weights; stems will not be meaningful)"
    prepare_for_cpu_inference(model)
    estimator = StemEstimator(model, config.wiener_iterations, config.precision)
    return LoadedModel(estimator, provenance, trained)


class Separator:
    """Loads once; separates many waveforms or files. See the module docstring."""

    def __init__(self, config: SeparatorConfig | None = None, log: Callable[[str], None] | None = None):
        self.config = config or SeparatorConfig()
        self.log = log or (lambda _msg: None)
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        unknown = sorted(set(self.config.stems) - set(SOURCES))
        if unknown or not self.config.stems:
            raise DannaSepError(f"unknown stems {unknown}; choose from {', '.join(SOURCES)}")
        if self.config.size is not None and self.config.size not in MODEL_SIZES:
            raise DannaSepError(f"size must be one of {', '.join(MODEL_SIZES)}, not {self.config.size!r}")
        full = load_preset(self.config.preset)
        self.preset: FusionPreset = full.restricted_to(tuple(self.config.stems))
        self.models: dict[str, LoadedModel] = {arch: self._load(arch) for arch in self.preset.models}
        self.estimators = {arch: m.estimator for arch, m in self.models.items()}

    # -- loading -----------------------------------------------------------------------------
    def _load(self, arch: str) -> LoadedModel:
        return load_model(arch, self.config)

    @property
    def all_trained(self) -> bool:
        return all(m.trained for m in self.models.values())

    def describe(self) -> list[str]:
        lines = [
            f"preset {self.preset.name}: "
            + ", ".join(
                f"{arch} ({m.model.config_name}, {m.model.num_parameters() / 1e6:.1f} M params)"
                for arch, m in self.models.items()
            )
        ]
        lines += [f"  {arch}: {m.provenance}" for arch, m in self.models.items()]
        return lines

    # -- separating --------------------------------------------------------------------------
    def separate(
        self, mix: np.ndarray | torch.Tensor, sample_rate: int = SAMPLE_RATE, progress: Progress | None = None
    ) -> np.ndarray:
        """Separate an in-memory signal.

        Args:
            mix: (channels, time) with 1 or 2 channels, any sample rate.
        Returns:
            (4, 2, time') float32 stems at 44.1 kHz, SOURCES order (unrequested stems are zero).
        """
        signal = mix.detach().cpu().numpy() if isinstance(mix, torch.Tensor) else np.asarray(mix)
        if signal.ndim != 2 or signal.shape[0] not in (1, 2):
            raise DannaSepError(f"expected a (channels, time) signal with 1 or 2 channels, got {signal.shape}")
        if not np.isfinite(signal).all():
            raise DannaSepError("the signal contains NaN or infinite samples")
        signal = signal.astype(np.float32)
        if signal.shape[0] == 1:
            signal = np.repeat(signal, 2, axis=0)
        if sample_rate != SAMPLE_RATE:
            signal = soxr.resample(signal.T, sample_rate, SAMPLE_RATE, quality="VHQ").T
        if signal.shape[-1] == 0:
            raise DannaSepError("the signal is empty")
        return separate_array(signal, self.estimators, self.preset, progress)

    def separate_file(
        self, path: str | Path, naming: OutputNaming, fmt: AudioFormat | None = None, progress: Progress | None = None
    ) -> SeparationResult:
        """Separate one file into stem files (written atomically; nothing partial on failure)."""
        path = Path(path)
        targets = naming.targets(path, self.config.stems)
        naming.check_free(targets)
        ensure_writable_folder(naming.out_dir)
        started = time.perf_counter()
        with AudioInput.open(path, self.config.channel_policy) as audio:
            rate = fmt.sample_rate if fmt else SAMPLE_RATE
            fmt = fmt or AudioFormat(sample_rate=rate)
            written = 0

            def emit(block: np.ndarray) -> None:
                nonlocal written
                written += block.shape[-1]
                writer.write_block(block, SOURCES, last=written >= audio.length)

            with StemWriter(targets, fmt) as writer:
                separate_stream(audio, self.estimators, self.preset, emit, progress)
            return SeparationResult(
                input=path,
                outputs=targets,
                seconds_of_audio=audio.length / SAMPLE_RATE,
                seconds_taken=time.perf_counter() - started,
                notes=list(audio.notes) + stale_note(writer.removed_stale),
                clipped={k: v for k, v in writer.clipped.items() if v},
            )


__all__ = ["LoadedModel", "OutputError", "SeparationResult", "Separator", "SeparatorConfig", "load_model"]
