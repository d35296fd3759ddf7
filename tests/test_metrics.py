"""The CAD accuracies against values counted by hand and a plain reference."""

from __future__ import annotations

import random

import pytest

from cast_engine.evaluate.metrics import accuracy, cad_metrics, confusion_matrix


def test_cad_metrics_of_a_small_case_counted_by_hand():
    fac_pred, fac_gold = [0, 1, 1, 0], [0, 1, 0, 0]  # right, right, wrong, right
    cf_pred, cf_gold = [1, 1, 0], [1, 0, 0]  # right, wrong, right
    pairs = [(0, 0), (1, 1), (2, 2), (3, 2)]  # both right: (0, 0) and (3, 2) only
    m = cad_metrics(fac_pred, fac_gold, cf_pred, cf_gold, pairs, num_labels=2)
    assert m["factual"] == 3 / 4
    assert m["counterfactual"] == 2 / 3
    assert m["combined"] == 5 / 7
    assert m["pair"] == 2 / 4  # one right of the two is not enough
    assert (m["n_factual"], m["n_counterfactual"], m["n_pairs"]) == (4, 3, 4)
    # gold rows, predicted columns, over both sets: gold 0 -> 0 three times, -> 1 twice; gold 1 -> 1 twice
    assert m["confusion"] == [[3, 2], [0, 2]]


def test_pair_needs_both_examples_right():
    # factual right and counterfactual wrong, and the reverse: no pair is right
    m = cad_metrics([1, 0], [1, 1], [0, 1], [1, 1], [(0, 0), (1, 1)], num_labels=2)
    assert m["pair"] == 0.0
    assert m["factual"] == m["counterfactual"] == 0.5


def test_confusion_matrix_rows_are_gold_columns_predictions():
    assert confusion_matrix([2, 0, 1, 2], [0, 0, 2, 2], 3) == [[1, 0, 1], [0, 0, 0], [0, 1, 1]]


def test_empty_sets():
    assert accuracy([], []) is None
    m = cad_metrics([1], [1], [], [], [], num_labels=2)
    assert m["pair"] is None and m["counterfactual"] is None and m["factual"] == 1.0 and m["combined"] == 1.0


def _reference(fac_pred, fac_gold, cf_pred, cf_gold, pairs):
    right_f = [p == g for p, g in zip(fac_pred, fac_gold)]
    right_c = [p == g for p, g in zip(cf_pred, cf_gold)]
    both = [1 if right_f[f] and right_c[c] else 0 for f, c in pairs]
    return {
        "factual": sum(right_f) / len(right_f),
        "counterfactual": sum(right_c) / len(right_c),
        "combined": (sum(right_f) + sum(right_c)) / (len(right_f) + len(right_c)),
        "pair": sum(both) / len(both),
    }


def test_random_cases_match_a_plain_reference():
    rng = random.Random(7)
    for _ in range(50):
        n_f, labels = rng.randint(1, 12), rng.randint(2, 3)
        fac_gold = [rng.randrange(labels) for _ in range(n_f)]
        fac_pred = [rng.randrange(labels) for _ in range(n_f)]
        pairs = [(f, c) for c, f in enumerate(rng.randrange(n_f) for _ in range(rng.randint(1, 2 * n_f)))]
        cf_gold = [rng.randrange(labels) for _ in pairs]
        cf_pred = [rng.randrange(labels) for _ in pairs]
        got = cad_metrics(fac_pred, fac_gold, cf_pred, cf_gold, pairs, labels)
        for key, value in _reference(fac_pred, fac_gold, cf_pred, cf_gold, pairs).items():
            assert got[key] == pytest.approx(value), key
