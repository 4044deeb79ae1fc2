"""What one model computes on a batch: the loss for training, estimates for validation."""

import torch

from dannasep.engine.dsp.stft import istft, stft
from dannasep.engine.dsp.wiener import wiener
from dannasep.engine.models.base import SeparationNet
from dannasep.training.losses import CombinationLoss, LossTerms, WaveformL1Loss
from dannasep.training.trainer.config import TrainingConfig


class ModelStep:
    """Loss and estimates of one architecture; magnitude models go through the STFT here."""

    def __init__(self, model: SeparationNet, config: TrainingConfig):
        self.input_domain = model.input_domain
        self.config = config
        if config.loss == "combination":
            self.loss = CombinationLoss(wiener_iterations=config.wiener_iterations or None)
        else:
            self.loss = WaveformL1Loss()

    def train_loss(self, net: torch.nn.Module, mixture: torch.Tensor, sources: torch.Tensor) -> LossTerms:
        """mixture (B, 2, L), sources (B, 4, 2, L). Under autocast only the network runs in
        reduced precision: the STFTs, the Wiener filter and the losses stay in float32."""
        full_precision = torch.autocast(mixture.device.type, enabled=False)
        if self.input_domain == "magnitude":
            with full_precision:
                mix_spec = stft(mixture)
            masks = net(mix_spec.abs())
            with full_precision:
                return self.loss(masks.float(), mix_spec, stft(sources), sources, mixture)
        estimate = net(mixture).float()
        if not isinstance(self.loss, WaveformL1Loss):
            raise ValueError("waveform models train with the l1 loss")
        with full_precision:
            return self.loss(estimate, sources)

    @torch.no_grad()
    def estimate(self, net: torch.nn.Module, mixture: torch.Tensor) -> torch.Tensor:
        """(B, 2, L) -> (B, 4, 2, L) with the validation Wiener setting."""
        length = mixture.shape[-1]
        if self.input_domain == "magnitude":
            mix_spec = stft(mixture)
            masks = net(mix_spec.abs()).float()
            iterations = self.config.validation_wiener_iterations
            if iterations:
                spec = wiener(masks * mix_spec.abs().unsqueeze(1), mix_spec, n_iter=iterations)
            else:
                spec = masks * mix_spec.unsqueeze(1)
            return istft(spec, length=length)
        out = net(mixture).float()
        return torch.nn.functional.pad(out, (0, length - out.shape[-1]))
