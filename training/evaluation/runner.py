"""`evaluate`: separate every track once per model, derive every system from those estimates, score.

Systems, all on the same tracks:
    model:<arch>      one network alone (with its Wiener filter, as in the paper's ablation)
    preset:<name>     a fusion preset, the weighted sum of the models' estimates
    streamed:<...>    with `streaming`, the same through the live engine's sliding windows (causal
                      Wiener filter, default hop, context and look-ahead): what listening live costs
    listen:<preset>   with `listening`, a preset streamed as the live engine runs it (its [live]
                      table), with its latency: quality against latency (listening.py)
    baseline:mix/4    the mixture divided by four as every estimate
    oracle:IRM        ideal ratio mask from the true stems
    oracle:MWF        ideal multichannel Wiener filter from the true stems
Fusion is linear in the models' waveforms, so a preset costs no extra inference.
"""

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dannasep.engine.constants import SOURCES
from dannasep.engine.fusion.presets import FusionPreset, load_preset, make_preset
from dannasep.engine.separation.fusion import fuse
from dannasep.engine.separation.runner import separate_array
from dannasep.engine.separation.separator import LoadedModel, SeparatorConfig, load_model
from dannasep.engine.streaming.processor import StreamProcessor, stream_array
from dannasep.training.data.musdb import DatasetError, Track, list_tracks
from dannasep.training.evaluation import metrics, oracles
from dannasep.training.evaluation.listening import ListeningMode, listen, listening_mode


@dataclass(frozen=True)
class EvalConfig:
    data: Path
    split: str = "test"
    presets: tuple[str, ...] = ("paper", "fast")
    models: tuple[str, ...] = ("xumx", "unet", "demucs")
    weights_dir: Path | None = None
    size: str | None = None
    museval: bool = True
    oracles: bool = True
    max_tracks: int | None = None
    seconds: float | None = None  # score only the first seconds of every track
    workers: int = 1  # processes for museval
    streaming: bool = False  # also score every model and preset as the live engine computes them
    precision: str = "auto"  # of the networks: auto, fp32 or bf16
    listening: tuple[str, ...] = ()  # presets to stream as the live engine runs them


@dataclass
class Scores:
    """SDR in dB per system, per track, per source (global SDR always; BSSEval when asked)."""

    tracks: list[str] = field(default_factory=list)
    global_sdr: dict[str, list[np.ndarray]] = field(default_factory=dict)
    bss_sdr: dict[str, list[np.ndarray]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    latency_seconds: dict[str, float] = field(default_factory=dict)
    """Engine latency of each listen:<preset> system."""

    def median(self, system: str, kind: str = "bss") -> np.ndarray:
        """(4,) median over tracks (the paper's aggregation)."""
        table = self.bss_sdr if kind == "bss" else self.global_sdr
        return np.nanmedian(np.stack(table[system]), axis=0)

    @property
    def systems(self) -> list[str]:
        return list(self.global_sdr)


def _single_model_preset(arch: str) -> FusionPreset:
    return make_preset(arch, {arch: [1.0] * len(SOURCES)})


def _load_models(config: EvalConfig, presets: list[FusionPreset]) -> dict[str, LoadedModel]:
    """Every model the systems need, once."""
    wanted = list(dict.fromkeys([*config.models, *(a for p in presets for a in p.models)]))
    separator_config = SeparatorConfig(weights_dir=config.weights_dir, size=config.size, precision=config.precision)
    return {arch: load_model(arch, separator_config) for arch in wanted}


def read_excerpt(track: Track, seconds: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The mixture (2, time) and the true stems (4, 2, time), whole or the first `seconds`."""
    frames = int(seconds * track.sample_rate) if seconds else -1
    frames = min(frames, track.frames) if frames > 0 else -1
    return track.read("mixture", 0, frames), track.read_sources(0, frames)


def per_model_estimates(mixture: np.ndarray, models: dict[str, LoadedModel]) -> dict[str, np.ndarray]:
    """Each model alone on one mixture: arch -> (4, 2, time)."""
    return {
        arch: separate_array(mixture, {arch: loaded.estimator}, _single_model_preset(arch))
        for arch, loaded in models.items()
    }


def system_estimates(
    mixture: np.ndarray,
    truth: np.ndarray,
    models: dict[str, LoadedModel],
    presets: list[FusionPreset],
    config: EvalConfig,
    modes: list[ListeningMode] | None = None,
    latencies: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Every system's (4, 2, time) estimate for one track; each listening mode's latency goes
    into `latencies`."""
    per_model = {
        arch: separate_array(mixture, {arch: loaded.estimator}, _single_model_preset(arch))
        for arch, loaded in models.items()
    }
    estimates = {f"model:{arch}": per_model[arch] for arch in config.models}
    tensors = {arch: torch.from_numpy(value) for arch, value in per_model.items()}
    for preset in presets:
        estimates[f"preset:{preset.name}"] = fuse(tensors, preset).numpy()
    if config.streaming:
        streamed = {arch: streamed_estimate(mixture, loaded) for arch, loaded in models.items()}
        estimates.update({f"streamed:model:{arch}": streamed[arch] for arch in config.models})
        streamed_tensors = {arch: torch.from_numpy(value) for arch, value in streamed.items()}
        for preset in presets:
            estimates[f"streamed:preset:{preset.name}"] = fuse(streamed_tensors, preset).numpy()
    for mode in modes or []:
        estimates[mode.system], latency = listen(mixture, models, mode)
        if latencies is not None:
            latencies[mode.system] = latency
    estimates["baseline:mix/4"] = np.repeat(mixture[None] / len(SOURCES), len(SOURCES), axis=0)
    if config.oracles:
        estimates["oracle:IRM"] = oracles.ideal_ratio_mask(truth, mixture)
        estimates["oracle:MWF"] = oracles.ideal_wiener_filter(truth, mixture)
    return estimates


def streamed_estimate(mixture: np.ndarray, loaded: LoadedModel) -> np.ndarray:
    """One model alone through the live engine's processor (default live settings): (4, 2, time)."""
    arch = loaded.model.architecture
    alone = {arch: (1.0,) * len(SOURCES)}
    processor = StreamProcessor({arch: loaded.estimator}, lambda: alone)
    return stream_array(processor, mixture)


def _bss_job(truth: np.ndarray, estimates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    torch.set_num_threads(1)
    return {system: metrics.bss_eval_sdr(truth, estimate) for system, estimate in estimates.items()}


def evaluate(config: EvalConfig, progress: bool = True, log: Callable[[str], None] = print) -> Scores:
    tracks, problems = list_tracks(config.data, config.split)
    for problem in problems:
        log(f"skipped {problem}")
    if config.max_tracks:
        tracks = tracks[: config.max_tracks]
    if not tracks:
        raise DatasetError(f"{config.data}: no usable {config.split} tracks")
    presets = [load_preset(name) for name in config.presets]
    modes = [listening_mode(load_preset(name)) for name in config.listening]
    models = _load_models(config, [*presets, *(mode.preset for mode in modes)])
    scores = Scores()
    for arch, loaded in models.items():
        scores.notes[f"model:{arch}"] = loaded.provenance
    pending = []
    with ProcessPoolExecutor(max_workers=max(1, config.workers)) as pool:
        for track in tqdm(tracks, desc="separating", unit="track", disable=not progress):
            mixture, truth = read_excerpt(track, config.seconds)
            estimates = system_estimates(mixture, truth, models, presets, config, modes, scores.latency_seconds)
            scores.tracks.append(track.name)
            for system, estimate in estimates.items():
                scores.global_sdr.setdefault(system, []).append(metrics.global_sdr(truth, estimate))
            if config.museval:
                pending.append(pool.submit(_bss_job, truth, estimates))
        for future in tqdm(pending, desc="BSSEval v4", unit="track", disable=not progress or not pending):
            for system, values in future.result().items():
                scores.bss_sdr.setdefault(system, []).append(values)
    return scores
