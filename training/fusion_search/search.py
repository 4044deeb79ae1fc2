"""Per-source fusion weights by exhaustive search over the simplex.

Fusion is a weighted sum of the models' waveforms, so for one source and track the error energy
of any weighting w is a quadratic form: |t - Σ_m w_m e_m|² = |t|² - 2 wᵀb + wᵀGw with
b_m = <t, e_m> and G_mn = <e_m, e_n>. Those inner products are computed once per track, after
which every grid point costs a few multiplications: a step of 0.05 over three models (231 points)
is instant. The objective is the median over tracks of the global SDR (the paper aggregates with
medians too); sources are independent, so each gets its own best point.
"""

import itertools
from dataclasses import dataclass

import numpy as np

from dannasep.engine.constants import SOURCES

_EPS = 1e-8


def simplex_grid(models: int, step: float) -> np.ndarray:
    """All weight vectors with entries in multiples of `step` summing to 1: (points, models)."""
    units = round(1 / step)
    if not np.isclose(units * step, 1.0):
        raise ValueError(f"step {step} must divide 1")
    points = [c for c in itertools.product(range(units + 1), repeat=models) if sum(c) == units]
    return np.array(points, dtype=np.float64) / units


@dataclass
class InnerProducts:
    """Per track and source: |t|², b = <t, e_m>, G = <e_m, e_n>."""

    target_energy: np.ndarray  # (tracks, sources)
    cross: np.ndarray  # (tracks, sources, models)
    gram: np.ndarray  # (tracks, sources, models, models)


def inner_products(truths: list[np.ndarray], estimates: list[np.ndarray]) -> InnerProducts:
    """truths[i]: (4, 2, time); estimates[i]: (models, 4, 2, time)."""
    energy, cross, gram = [], [], []
    for truth, est in zip(truths, estimates, strict=True):
        t = truth.reshape(truth.shape[0], -1).astype(np.float64)  # (S, n)
        e = est.reshape(est.shape[0], est.shape[1], -1).astype(np.float64)  # (M, S, n)
        energy.append(np.sum(t * t, axis=-1))
        cross.append(np.einsum("sn,msn->sm", t, e))
        gram.append(np.einsum("msn,ksn->smk", e, e))
    return InnerProducts(np.stack(energy), np.stack(cross), np.stack(gram))


def sdr_of_weights(products: InnerProducts, weights: np.ndarray) -> np.ndarray:
    """Global SDR (dB) for every weighting: weights (points, models) -> (points, tracks, sources)."""
    quadratic = np.einsum("pm,tsmk,pk->pts", weights, products.gram, weights)
    linear = np.einsum("pm,tsm->pts", weights, products.cross)
    error = np.maximum(products.target_energy[None] - 2 * linear + quadratic, 0.0)
    return 10 * np.log10((products.target_energy[None] + _EPS) / (error + _EPS))


@dataclass(frozen=True)
class SearchResult:
    models: tuple[str, ...]
    weights: np.ndarray  # (models, sources), columns sum to 1
    scores: np.ndarray  # (sources,) median SDR over tracks at the best point

    def as_raw(self) -> dict[str, list[float]]:
        return {arch: [float(w) for w in self.weights[m]] for m, arch in enumerate(self.models)}


def search(products: InnerProducts, models: tuple[str, ...], step: float = 0.05) -> SearchResult:
    grid = simplex_grid(len(models), step)
    medians = np.median(sdr_of_weights(products, grid), axis=1)  # (points, sources)
    best = np.argmax(medians, axis=0)
    weights = np.stack([grid[best[s]] for s in range(len(SOURCES))], axis=1)
    return SearchResult(models, weights, medians[best, np.arange(len(SOURCES))])


def score_weights(products: InnerProducts, weights: np.ndarray) -> np.ndarray:
    """Median-over-tracks SDR per source for one (models, sources) weighting."""
    sdr = np.stack(
        [sdr_of_weights(products, weights[:, s][None])[0, :, s] for s in range(len(SOURCES))], axis=-1
    )  # (tracks, sources)
    return np.median(sdr, axis=0)
