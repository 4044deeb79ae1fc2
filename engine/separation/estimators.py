"""Any network as waveform in, four stems out.

Spectrogram networks: X = STFT(mix); masks = net(|X|); V = masks·|X|; Wiener filter (EM,
complex128) against X; iSTFT. Waveform networks: run, and zero-pad the left-aligned output to the
input length (callers give enough right context that the kept part is always covered).
"""

from collections.abc import Callable

import torch

from dannasep.engine.constants import HOP_LENGTH
from dannasep.engine.dsp.stft import istft, stft
from dannasep.engine.dsp.wiener import wiener
from dannasep.engine.models.base import SeparationNet
from dannasep.engine.models.cpu_inference import cast_to_precision

Statistics = tuple[torch.Tensor, torch.Tensor]


class StemEstimator:
    """Wraps a network: (B, 2, N) float32 mixture -> (B, 4, 2, N) float32 stems.

    Args:
        model: a network in eval mode.
        wiener_iterations: EM iterations for spectrogram models (Danna-Sep uses 1).
        precision: "auto", "fp32" or "bf16": the network's own precision (it is cast in place);
            the STFT, the Wiener filter and the returned stems are float32 whatever is chosen.
    """

    def __init__(self, model: SeparationNet, wiener_iterations: int = 1, precision: str = "fp32"):
        self.model = model
        self.network: Callable[..., torch.Tensor] = model
        """What computes the network's forward: the model itself, or a runtime standing in for it
        (engine.models.onnx_runner)."""
        self.wiener_iterations = wiener_iterations
        self.input_dtype = cast_to_precision(model, precision)
        self.precision = "bf16" if self.input_dtype == torch.bfloat16 else "fp32"

    @property
    def architecture(self) -> str:
        return self.model.architecture

    def __call__(self, mix: torch.Tensor, statistics: Statistics | None = None) -> torch.Tensor:
        return self.separate(mix, self._offline_filter, statistics)

    def _offline_filter(self, sources: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
        return wiener(sources, spec, n_iter=self.wiener_iterations)

    @torch.inference_mode()
    def separate(
        self,
        mix: torch.Tensor,
        spectral_filter: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        statistics: Statistics | None = None,
        frames: slice | None = None,
    ):
        """Like calling the estimator, with `spectral_filter(V, X) -> Y` replacing the offline Wiener
        filter for spectrogram models (the streaming engine passes its causal filter).

        statistics: (mean, std) of the mono input, each (B, 1, 1), for a network that standardises
        its input (`normalises_input`) to use instead of the input's own; ignored by the others.
        frames: spectrogram models only synthesise these STFT frames of the filtered spectrogram
        and return (B, 4, 2, (count − 1) · hop) samples starting at `frames.start · hop`; exact
        wherever every frame overlapping a sample is among them (the streaming engine keeps only
        those samples). Waveform models return the whole input length whatever is given."""
        length = mix.shape[-1]
        if self.model.input_domain == "magnitude":
            spec = stft(mix)
            magnitude = spec.abs()
            masks = self.network(magnitude.to(self.input_dtype))
            sources = masks.float() * magnitude.unsqueeze(1)
            filtered = spectral_filter(sources, spec)
            if frames is None:
                return istft(filtered, length=length)
            kept = filtered[..., frames]
            return istft(kept, length=(kept.shape[-1] - 1) * HOP_LENGTH)
        extra = {"statistics": statistics} if statistics is not None and self.model.normalises_input else {}
        out = self.network(mix.to(self.input_dtype), **extra).float()
        if out.shape[-1] < length:
            out = torch.nn.functional.pad(out, (0, length - out.shape[-1]))
        return out[..., :length].contiguous()
