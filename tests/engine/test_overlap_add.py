"""Overlap-add: an identity model must give its input back, bit for bit."""

import numpy as np
import pytest

from dannasep.engine.dsp.overlap_add import STRETCH, OverlapAdd, crossfade_weights, plan_chunks


def _identity_through_chunks(x: np.ndarray, segment: int, overlap: float) -> np.ndarray:
    plan = plan_chunks(x.shape[-1], segment, overlap)
    ola = OverlapAdd(x.shape[:-1], max(chunk.length for chunk in plan))
    out = []
    for i, chunk in enumerate(plan):
        block = np.zeros((*x.shape[:-1], chunk.length), np.float32)
        stop = min(chunk.stop, x.shape[-1])
        block[..., : stop - chunk.start] = x[..., chunk.start : stop]
        ola.add(chunk.start, block, crossfade_weights(chunk.length, chunk.fade_in, chunk.fade_out))
        until = plan[i + 1].start if i + 1 < len(plan) else x.shape[-1]
        out.append(ola.release(until))
    return np.concatenate(out, axis=-1)


@pytest.mark.parametrize("length", [1, 1023, 1025, 10_000, 44_100 * 2 + 77])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.9])
def test_identity_model_reproduces_input_exactly(rng, length, overlap):
    x = rng.standard_normal((4, 2, length)).astype(np.float32)
    y = _identity_through_chunks(x, segment=3000, overlap=overlap)
    assert y.shape == x.shape
    assert np.array_equal(y, x)


@pytest.mark.parametrize("overlap", [0.0, 0.1, 0.25, 0.5, 0.9])
def test_plan_covers_signal_once_with_positive_weights(overlap):
    length, segment = 100_003, 7_000
    plan = plan_chunks(length, segment, overlap)
    covered = np.zeros(length)
    for chunk in plan:
        w = crossfade_weights(chunk.length, chunk.fade_in, chunk.fade_out)
        assert (w > 0).all() and w.max() <= 1.0
        covered[chunk.start : min(chunk.stop, length)] += w[: min(chunk.stop, length) - chunk.start]
    assert (covered > 0).all()
    if overlap <= 0.5:  # at most two chunks overlap: the fades alone sum to one
        assert np.allclose(covered, 1.0)
    assert plan[0].start == 0 and plan[-1].stop == length


def test_complementary_fades_sum_to_one():
    up = crossfade_weights(8, fade_in=8, fade_out=0)
    down = crossfade_weights(8, fade_in=0, fade_out=8)
    assert np.allclose(up + down, 1.0)


def test_chunks_must_arrive_in_order():
    ola = OverlapAdd((1,), 10)
    ola.add(0, np.ones((1, 10)), np.ones(10))
    ola.release(5)
    with pytest.raises(ValueError, match="already released"):
        ola.add(2, np.ones((1, 5)), np.ones(5))


@pytest.mark.parametrize("bad", [(0, 10, 0.1), (10, 0, 0.1), (10, 5, 1.0), (10, 5, -0.1)])
def test_bad_plans_are_refused(bad):
    with pytest.raises(ValueError):
        plan_chunks(*bad)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(30, [30.0]), (32, [32.0]), (60, [30.75, 30.75]), (75, [30.0, 30.0, 18.0]), (300, [31.35] * 10)],
)
def test_a_short_remainder_stretches_the_chunks_instead_of_adding_one(seconds, expected):
    """30 s segments, 1.5 s fades: a remainder short enough is spread over the other chunks
    (each at most STRETCH longer), a long one gets its own chunk."""
    plan = plan_chunks(seconds * 1000, 30_000, 0.05)
    assert [c.length / 1000 for c in plan] == expected
    assert max(c.length for c in plan) <= 30_000 * (1 + STRETCH) + 1
    assert plan[0].start == 0 and plan[-1].stop == seconds * 1000
