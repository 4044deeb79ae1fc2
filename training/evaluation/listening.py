"""Each way of listening to a song, as `dannasep eval --listening` scores it: a fusion preset
streamed exactly as the live engine runs it (its [live] table: hop, cross-fade, look-ahead,
context and safety; the engine's defaults where the preset has none), and its latency.

Offline separation, which render-ahead playback plays, is the preset itself (`preset:<name>`).
Fusion is linear, so each model is streamed alone and the preset's weights are applied after.
"""

from dataclasses import dataclass

import numpy as np
import torch

from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.fusion.presets import FusionPreset
from dannasep.engine.separation.fusion import fuse
from dannasep.engine.separation.separator import LoadedModel
from dannasep.engine.streaming.processor import StreamProcessor, StreamSettings, stream_array
from dannasep.engine.streaming.timing import LiveOptions, LiveTiming


@dataclass(frozen=True)
class ListeningMode:
    preset: FusionPreset
    timing: LiveTiming

    @property
    def system(self) -> str:
        return f"listen:{self.preset.name}"


def listening_mode(preset: FusionPreset) -> ListeningMode:
    timing, _processes = LiveOptions().resolve(preset.path or preset.name)
    return ListeningMode(preset, timing)


def streamed_model(mixture: np.ndarray, loaded: LoadedModel, timing: LiveTiming) -> tuple[np.ndarray, int]:
    """One model alone through the live processor with `timing`: stems (4, 2, time) aligned to the
    input, and the model's algorithmic latency (hop + look-ahead) in samples."""
    arch = loaded.model.architecture
    alone = {arch: (1.0,) * len(SOURCES)}
    processor = StreamProcessor({arch: loaded.estimator}, lambda: alone, StreamSettings(timing))
    return stream_array(processor, mixture), processor.algorithmic_latency


def listen(mixture: np.ndarray, models: dict[str, LoadedModel], mode: ListeningMode) -> tuple[np.ndarray, float]:
    """The preset's stems (4, 2, time) as heard live, and the engine latency in seconds."""
    streamed, latencies = {}, []
    for arch in mode.preset.models:
        stems, latency = streamed_model(mixture, models[arch], mode.timing)
        streamed[arch] = torch.from_numpy(stems)
        latencies.append(latency)
    fused = fuse(streamed, mode.preset).numpy()
    return fused, (max(latencies) + mode.timing.safety) / SAMPLE_RATE
