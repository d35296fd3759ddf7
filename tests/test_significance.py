"""Paired bootstrap and McNemar against small cases computed by hand."""

from __future__ import annotations

import math

import pytest

from cast_engine.errors import ConfigError
from cast_engine.evaluate.significance import compare_predictions, compare_runs, mcnemar_p, paired_bootstrap
from cast_engine.store import RunStore


def test_mcnemar_exact_binomial_for_few_discordant_pairs():
    # b=1, c=6: n=7, P(X<=1) = (C(7,0)+C(7,1))/2^7 = 8/128, two-sided 0.125
    assert mcnemar_p(1, 6) == pytest.approx(0.125)
    assert mcnemar_p(6, 1) == pytest.approx(0.125)
    # b=0, c=5: 2 * 1/32
    assert mcnemar_p(0, 5) == pytest.approx(0.0625)
    assert mcnemar_p(3, 3) == 1.0
    assert mcnemar_p(0, 0) == 1.0


def test_mcnemar_chi_square_with_continuity_correction():
    # b=30, c=10: (|30-10|-1)^2/40 = 9.025; chi-square(1) survival = erfc(sqrt(9.025/2)) = 0.002663
    assert mcnemar_p(30, 10) == pytest.approx(math.erfc(math.sqrt(9.025 / 2)))
    assert mcnemar_p(30, 10) == pytest.approx(0.002663, abs=1e-6)


def test_bootstrap_interval_of_three_examples_matches_enumeration():
    # differences [1, 0, 0]: the resampled mean is k/3 with k ~ Binomial(3, 1/3):
    # P(k=0) = 8/27 > 2.5 % and P(k=3) = 1/27 > 2.5 %, so the 95 % interval is [0, 1].
    low, high = paired_bootstrap([1, 0, 0], [0, 0, 0], samples=20000, seed=3)
    assert (low, high) == (0.0, 1.0)
    low, high = paired_bootstrap([1, 1, 1, 1], [0, 0, 0, 0])
    assert (low, high) == (1.0, 1.0)


def test_compare_predictions_pools_seed_pairs():
    gold = [0, 1, 2, 0, 1]
    seed1 = ([0, 1, 2, 0, 0], [0, 1, 0, 1, 0], gold)  # A right 4, B right 2; b=2 (idx 2, 3), c=0
    seed2 = ([0, 1, 2, 1, 1], [0, 0, 2, 0, 1], gold)  # A right 4, B right 4; b=1 (idx 1), c=1 (idx 3)
    result = compare_predictions([seed1, seed2], samples=2000)
    assert result.accuracy_a == pytest.approx(8 / 10)
    assert result.accuracy_b == pytest.approx(6 / 10)
    assert result.difference == pytest.approx(0.2)
    assert (result.b, result.c) == (3, 1)
    assert result.p_value == pytest.approx(2 * (1 + 4) / 16)  # exact: n=4, P(X<=1)=5/16
    assert result.n_examples == 5 and result.n_pairs_of_runs == 2
    assert result.ci_low <= result.difference <= result.ci_high
    assert not result.significant()


def test_a_clear_difference_is_significant():
    gold = [i % 3 for i in range(200)]
    wrong = [(g + 1) % 3 for g in gold]
    half = [g if i % 2 else w for i, (g, w) in enumerate(zip(gold, wrong))]
    result = compare_predictions([(gold, half, gold)])
    assert result.difference == pytest.approx(0.5)
    assert result.ci_low > 0.35 and result.p_value < 1e-20
    assert result.significant()


def test_different_test_sets_are_refused():
    with pytest.raises(ConfigError, match="different sets"):
        compare_predictions([([0, 1], [0, 1, 1], [0, 1])])


def _run_with_predictions(store, seed, predicted, gold):
    run_id = store.create_run({"train": {"seed": seed}}, method="m", task="nli", variant="RH1", regime="cad",
                              model="x", seed=seed)
    store.save_predictions(run_id, "factual", predicted[:2], gold[:2])
    store.save_predictions(run_id, "counterfactual", predicted[2:], gold[2:])
    store.finish_run(run_id, "completed", results={"combined": sum(p == g for p, g in zip(predicted, gold)) / len(gold)})
    return store.get_run(run_id)


def test_compare_runs_pairs_by_seed_from_the_store(store_path):
    gold = [0, 1, 2, 0]
    with RunStore(store_path) as store:
        a1 = _run_with_predictions(store, 1, [0, 1, 2, 0], gold)
        a2 = _run_with_predictions(store, 2, [0, 1, 2, 1], gold)
        b2 = _run_with_predictions(store, 2, [1, 1, 2, 1], gold)
        b1 = _run_with_predictions(store, 1, [0, 0, 0, 0], gold)
        result = compare_runs(store, [a1, a2], [b2, b1], samples=500)
        assert (result.b, result.c) == (2 + 1, 0)  # A right, B wrong: seed 1 at 1 and 2; seed 2 at 0
        assert result.accuracy_a == pytest.approx(7 / 8) and result.accuracy_b == pytest.approx(4 / 8)
        other = _run_with_predictions(store, 3, [0, 0, 0, 0], gold)
        with pytest.raises(ConfigError, match=r"the groups must have the same seeds.*\[1\] only in A; seed\(s\) \[3\] only in B"):
            compare_runs(store, [a1], [other])
        with pytest.raises(ConfigError, match="share no seed"):
            compare_runs(store, [a1], [other], shared_seeds_only=True)
        assert compare_runs(store, [a1, a2], [b1], shared_seeds_only=True, samples=100).n_pairs_of_runs == 1


def test_compare_runs_refuses_pairings_that_inflate_the_evidence(store_path):
    gold = [0, 1, 2, 0]
    with RunStore(store_path) as store:
        a1 = _run_with_predictions(store, 1, [0, 1, 2, 0], gold)
        a1_again = _run_with_predictions(store, 1, [0, 1, 2, 1], gold)
        a2 = _run_with_predictions(store, 2, [0, 1, 2, 1], gold)
        b1 = _run_with_predictions(store, 1, [0, 0, 0, 0], gold)
        with pytest.raises(ConfigError, match="group A has two runs with seed 1"):
            compare_runs(store, [a1, a1_again], [b1])
        with pytest.raises(ConfigError, match="is in both groups"):
            compare_runs(store, [a1], [a1])
        with pytest.raises(ConfigError, match=r"same seeds.*\[2\] only in A"):
            compare_runs(store, [a1, a2], [b1])
        with pytest.raises(ConfigError, match="samples = 0"):
            compare_runs(store, [a1], [b1], samples=0)
        empty = store.get_run(store.create_run({}, method="m", task="nli", variant="RH1", regime="cad", model="x", seed=5))
        b5 = _run_with_predictions(store, 5, [0, 0, 0, 0], gold)
        with pytest.raises(ConfigError, match=f"run {empty['id']} .* has no stored test predictions"):
            compare_runs(store, [empty], [b5])
