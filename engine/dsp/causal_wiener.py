"""A causal multichannel Wiener filter for streaming.

Offline, the spatial covariances R_j pool every frame of the excerpt, past and future. Streaming,
they pool exponentially forgetting sums of the frames already heard plus the current hop's frames
(and optionally a few look-ahead frames the engine already holds):

    S_j ← λ^n S_j + Σ_{new frames t} λ^{last − t} y_j(t) y_j(t)ᴴ,    R_j = S_j / (w_j + eps)

with λ = exp(−frame hop / τ) per frame. Everything frame-local (v_j, C_xx and its inverse, the
gains) is the offline filter unchanged. The global max|x| scale becomes a running maximum. One EM
iteration (the paper's setting) or zero (plain masking, fully frame-local) are supported; more
iterations refine only the current hop.
"""

import math
from dataclasses import dataclass

import torch

from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE
from dannasep.engine.dsp.wiener import (
    StereoMoments,
    apply_stereo_filter,
    initial_moments,
    moments_of,
    pooled_covariance,
    stack_stereo,
)


@dataclass(frozen=True)
class CausalWienerSettings:
    iterations: int = 1
    forgetting_seconds: float = 2.0
    lookahead_frames: int = 4

    @property
    def decay(self) -> float:
        """λ per STFT frame."""
        return math.exp(-HOP_LENGTH / (self.forgetting_seconds * SAMPLE_RATE))


class CausalWiener:
    """Stateful streaming filter for one model's stereo source estimates."""

    def __init__(self, settings: CausalWienerSettings | None = None):
        self.settings = settings or CausalWienerSettings()
        self.eps = torch.finfo(torch.float64).eps
        self.reset()

    def reset(self) -> None:
        self._sums: StereoMoments | None = None  # decayed, unscaled, (J, F) each
        self._weight: torch.Tensor | None = None
        self._peak = 0.0

    def _decayed_sum(self, moments: StereoMoments, frames: slice) -> tuple[StereoMoments, torch.Tensor]:
        """Σ_t λ^{last − t} m(t) over `frames`, and the same for the power."""
        count = len(range(*frames.indices(moments.p00.shape[-1])))
        weights = self.settings.decay ** torch.arange(count - 1, -1, -1, dtype=torch.float64)
        summed = StereoMoments(*((m[..., frames] * weights).sum(-1) for m in moments))
        return summed, (moments.power[..., frames] * weights).sum(-1)

    def __call__(
        self, magnitudes: torch.Tensor, mix_stft: torch.Tensor, new_frames: slice, output_frames: slice | None = None
    ) -> torch.Tensor:
        """Filter one window.

        Args:
            magnitudes: (J, 2, F, T) source magnitudes of the window.
            mix_stft: (2, F, T) complex STFT of the window.
            new_frames: frames heard for the first time (the hop); earlier frames were new in
                earlier windows, later ones are look-ahead.
            output_frames: the frames the caller will keep (default: all); the others are
                returned as zeros, which saves most of the work on a long window.
        Returns:
            (J, 2, F, T) complex in the dtype of `mix_stft`.
        """
        out_dtype = mix_stft.dtype
        frames = mix_stft.shape[-1]
        keep = output_frames or slice(0, frames)
        pooled = slice(new_frames.start, min(frames, new_frames.stop + self.settings.lookahead_frames))
        span = slice(min(keep.start, pooled.start), max(keep.stop, pooled.stop))
        x = mix_stft[..., span].to(torch.complex128)
        v = magnitudes[..., span].to(torch.float64)
        out = torch.zeros((*magnitudes.shape[:-1], frames), dtype=out_dtype)
        keep_local = slice(keep.start - span.start, keep.stop - span.start)
        if self.settings.iterations == 0:
            masked = v[..., keep_local] * torch.exp(1j * x[..., keep_local].angle()).unsqueeze(0)
            out[..., keep] = masked.to(out_dtype)
            return out
        pooled = slice(pooled.start - span.start, pooled.stop - span.start)
        new_frames = slice(new_frames.start - span.start, new_frames.stop - span.start)
        self._peak = max(self._peak, float(x[..., pooled].abs().max()))
        scale = max(1.0, self._peak / 10.0)
        x0, x1 = x[0] / scale, x[1] / scale
        moments = initial_moments(v / scale, x0, x1)
        current, current_weight = self._decayed_sum(moments, pooled)
        if self._sums is not None:
            # the state is kept unscaled; R is a ratio, so only its units need matching
            span = pooled.stop - pooled.start
            factor = self.settings.decay**span / scale**2
            current = StereoMoments(*(c + factor * s for c, s in zip(current, self._sums, strict=True)))
            current_weight = current_weight + factor * self._weight
        loading = math.sqrt(self.eps)
        y = apply_stereo_filter(moments.power, pooled_covariance(current, self.eps + current_weight), x0, x1, loading)
        for _ in range(1, self.settings.iterations):
            refined = moments_of(*y)
            summed, weight = self._decayed_sum(refined, pooled)
            y = apply_stereo_filter(refined.power, pooled_covariance(summed, self.eps + weight), x0, x1, loading)
        self._remember(moments, new_frames, scale)
        out[..., keep] = (stack_stereo(*y)[..., keep_local] * scale).to(out_dtype)
        return out

    def _remember(self, moments: StereoMoments, new_frames: slice, scale: float) -> None:
        summed, weight = self._decayed_sum(moments, new_frames)
        summed = StereoMoments(*(s * scale**2 for s in summed))
        weight = weight * scale**2
        if self._sums is None:
            self._sums, self._weight = summed, weight
            return
        n = new_frames.stop - new_frames.start
        decay = self.settings.decay**n
        self._sums = StereoMoments(*(decay * old + new for old, new in zip(self._sums, summed, strict=True)))
        self._weight = decay * self._weight + weight
