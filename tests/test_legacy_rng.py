"""The compiled replay of numpy's legacy normal stream (:mod:`hltk.metrics.ear.legacy_rng`)."""

from __future__ import annotations

import numpy as np
import pytest

from hltk.metrics.ear.legacy_rng import add_standard_normal, skip_standard_normal


@pytest.mark.parametrize(("seed", "before", "rows", "length"),
                         [(0, 0, 32, 1001), (5, 1, 3, 7), (7, 3, 2, 5), (11, 0, 1, 1),
                          (2**32 - 1, 2, 4, 700)])
def test_replay_equals_numpy_and_leaves_the_generator_in_step(
        seed: int, before: int, rows: int, length: int) -> None:
    """Values bit for bit, across MT19937 block boundaries and a cached second value
    (an odd number drawn before), and the generator state afterwards."""
    expected_rng = np.random.RandomState(seed)
    expected_rng.standard_normal(before)
    expected = expected_rng.standard_normal((rows, length))
    expected_next = expected_rng.standard_normal(5)

    rng = np.random.RandomState(seed)
    rng.standard_normal(before)
    target = np.full((rows, length + 3), 1.5)
    add_standard_normal(rng, target, length, scale=-2.0)
    np.testing.assert_array_equal(target[:, :length], 1.5 + -2.0 * expected)
    assert np.all(target[:, length:] == 1.5)
    np.testing.assert_array_equal(rng.standard_normal(5), expected_next)

    skipped = np.random.RandomState(seed)
    skipped.standard_normal(before)
    skip_standard_normal(skipped, rows, length)
    np.testing.assert_array_equal(skipped.standard_normal(5), expected_next)


def test_rejects_bad_targets() -> None:
    rng = np.random.RandomState(0)
    with pytest.raises(ValueError, match="float64"):
        add_standard_normal(rng, np.zeros((2, 3), np.float32), 3)
    with pytest.raises(ValueError, match="length"):
        add_standard_normal(rng, np.zeros((2, 3)), 4)


def test_skip_lands_where_numpy_does_for_many_counts_and_offsets() -> None:
    """Every way the last skipped try can fall: inside a block, on its last try, across a
    block boundary (an MT19937 block is 624 words, 4 per try), with or without a cached
    value before."""
    for before in range(4):
        for count in list(range(1, 40)) + list(range(300, 3000, 97)):
            expected = np.random.RandomState(before)
            expected.standard_normal(before)
            expected.standard_normal(count)
            rng = np.random.RandomState(before)
            rng.standard_normal(before)
            skip_standard_normal(rng, 1, count)
            np.testing.assert_array_equal(rng.standard_normal(3), expected.standard_normal(3),
                                          err_msg=f"before={before} count={count}")
