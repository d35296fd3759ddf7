"""Accuracies on CAD test sets: factual, counterfactual, combined, pairs."""

from __future__ import annotations

from typing import Sequence


def accuracy(pred: Sequence[int], gold: Sequence[int]) -> float | None:
    """Share of equal entries; None for an empty set."""
    if not gold:
        return None
    return sum(int(p == g) for p, g in zip(pred, gold)) / len(gold)


def confusion_matrix(pred: Sequence[int], gold: Sequence[int], num_labels: int) -> list[list[int]]:
    """Rows are gold labels, columns predictions."""
    matrix = [[0] * num_labels for _ in range(num_labels)]
    for p, g in zip(pred, gold):
        matrix[g][p] += 1
    return matrix


def cad_metrics(
    fac_pred: Sequence[int],
    fac_gold: Sequence[int],
    cf_pred: Sequence[int],
    cf_gold: Sequence[int],
    pairs: Sequence[tuple[int, int]],
    num_labels: int,
) -> dict:
    """The four accuracies of a CAD split and its confusion matrix.

    Pair accuracy: the share of (factual, counterfactual) pairs whose two
    examples are both classified correctly. ``combined`` pools factual and
    counterfactual examples.
    """
    fac_ok = [p == g for p, g in zip(fac_pred, fac_gold)]
    cf_ok = [p == g for p, g in zip(cf_pred, cf_gold)]
    pair_acc = sum(int(fac_ok[f] and cf_ok[c]) for f, c in pairs) / len(pairs) if pairs else None
    return {
        "factual": accuracy(fac_pred, fac_gold),
        "counterfactual": accuracy(cf_pred, cf_gold),
        "combined": accuracy(list(fac_pred) + list(cf_pred), list(fac_gold) + list(cf_gold)),
        "pair": pair_acc,
        "n_factual": len(fac_gold),
        "n_counterfactual": len(cf_gold),
        "n_pairs": len(pairs),
        "confusion": confusion_matrix(list(fac_pred) + list(cf_pred), list(fac_gold) + list(cf_gold), num_labels),
    }
