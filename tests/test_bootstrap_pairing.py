"""The bootstrap resamples the same examples for both methods (paired), as every
significance mark in the paper tables assumes."""

from __future__ import annotations

import pytest

from cast_engine.evaluate.significance import compare_predictions, paired_bootstrap


def test_identical_correctness_gives_a_zero_width_interval():
    # A and B right on the same examples: every paired resample has difference 0.
    # Resampling them independently would give differences up to ±0.5 here.
    correct = [1, 0, 1, 0, 1, 0, 1, 0]
    assert paired_bootstrap(correct, correct, samples=2000) == (0.0, 0.0)


def test_a_never_worse_on_any_example_gives_no_negative_bound():
    # differences [0, 1, 0]: the resampled mean is k/3, k ~ Binomial(3, 1/3), never below 0;
    # P(k = 0) = 8/27 and P(k = 3) = 1/27 are both above 2.5 %, so the interval is [0, 1]
    low, high = paired_bootstrap([1, 1, 0], [1, 0, 0], samples=20000, seed=1)
    assert (low, high) == (0.0, 1.0)


def test_compare_predictions_pairs_the_examples():
    gold = [i % 2 for i in range(40)]
    a = [1 - g if 10 <= i < 30 else g for i, g in enumerate(gold)]  # both methods wrong on examples 10-29
    b = list(a)
    b[0] = 1 - b[0]  # B wrong on one example where A is right; the same elsewhere
    result = compare_predictions([(a, b, gold)], samples=4000)
    assert result.difference == pytest.approx(1 / 40)
    # example 0 is drawn X ~ Binomial(40, 1/40) times: P(X <= 2) = 0.92, P(X <= 3) = 0.98, so the 97.5 % point is 3/40
    assert result.ci_low == 0.0 and result.ci_high == pytest.approx(3 / 40)
    assert (result.b, result.c) == (1, 0)
    same = compare_predictions([(a, a, gold)], samples=4000)
    assert (same.ci_low, same.ci_high, same.difference) == (0.0, 0.0, 0.0)
