"""Paired comparison of two classifiers on the same test examples.

* Paired bootstrap: resample test examples with replacement (the same
  resample for both methods) and take the percentile interval of the
  accuracy difference A − B.
* McNemar's test on the discordant pairs: b = A right and B wrong,
  c = A wrong and B right. Exact two-sided binomial p when b + c < 25,
  else the chi-square statistic with continuity correction, (|b−c|−1)²/(b+c),
  on one degree of freedom.

With several seeds per method, runs are paired by seed; the bootstrap
resamples examples and averages each example's correctness over the paired
seeds, and McNemar pools the discordant counts of every seed pair (each seed
pair adds its own paired observations). Both use only the standard library and
numpy: scipy would be a large dependency for two formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError

EXACT_BELOW = 25


@dataclass
class PairedComparison:
    """A − B on the same examples: accuracy difference, its bootstrap CI, McNemar."""

    accuracy_a: float
    accuracy_b: float
    difference: float
    ci_low: float
    ci_high: float
    b: int
    c: int
    p_value: float
    n_examples: int
    n_pairs_of_runs: int
    confidence: float = 0.95

    def significant(self, level: float = 0.05) -> bool:
        """McNemar p below ``level`` and a bootstrap interval that leaves out zero."""
        return self.p_value < level and (self.ci_low > 0 or self.ci_high < 0)


def mcnemar_p(b: int, c: int) -> float:
    """Two-sided McNemar p-value for discordant counts b and c."""
    n = b + c
    if n == 0:
        return 1.0
    if n < EXACT_BELOW:
        tail = sum(math.comb(n, i) for i in range(0, min(b, c) + 1)) / 2 ** n
        return min(1.0, 2 * tail)
    statistic = (abs(b - c) - 1) ** 2 / n
    return math.erfc(math.sqrt(statistic / 2))  # chi-square survival function, 1 degree of freedom


def paired_bootstrap(correct_a: np.ndarray, correct_b: np.ndarray, *, samples: int = 10000,
                     confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of mean(correct_a) − mean(correct_b), resampling examples (axis 0)."""
    n = len(correct_a)
    rng = np.random.default_rng(seed)
    diff = np.asarray(correct_a, dtype=np.float64) - np.asarray(correct_b, dtype=np.float64)
    means = np.empty(samples)
    for start in range(0, samples, 1000):  # chunks keep the index matrix small
        count = min(1000, samples - start)
        means[start:start + count] = diff[rng.integers(0, n, size=(count, n))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def compare_predictions(pairs: Sequence[tuple[Sequence[int], Sequence[int], Sequence[int]]], *,
                        samples: int = 10000, confidence: float = 0.95, seed: int = 0) -> PairedComparison:
    """Compare A and B from seed-paired predictions: each item is (pred_a, pred_b, gold).

    Every item must cover the same test examples in the same order.
    """
    if not pairs:
        raise ConfigError("nothing to compare: no pair of runs with predictions on the same test set")
    if not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"samples = {samples!r}: the bootstrap needs at least 1 resample (e.g. 10000)")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence = {confidence!r} must be between 0 and 1 (e.g. 0.95)")
    n = len(pairs[0][2])
    if n == 0:
        raise ConfigError("nothing to compare: the test set is empty")
    rows_a, rows_b, b, c = [], [], 0, 0
    for pred_a, pred_b, gold in pairs:
        if not (len(pred_a) == len(pred_b) == len(gold) == n):
            raise ConfigError(f"runs were tested on different sets ({len(pred_a)}, {len(pred_b)} and {len(gold)} examples)")
        ok_a = np.asarray(pred_a) == np.asarray(gold)
        ok_b = np.asarray(pred_b) == np.asarray(gold)
        rows_a.append(ok_a)
        rows_b.append(ok_b)
        b += int(np.sum(ok_a & ~ok_b))
        c += int(np.sum(~ok_a & ok_b))
    mean_a = np.mean(rows_a, axis=0)
    mean_b = np.mean(rows_b, axis=0)
    low, high = paired_bootstrap(mean_a, mean_b, samples=samples, confidence=confidence, seed=seed)
    acc_a, acc_b = float(mean_a.mean()), float(mean_b.mean())
    return PairedComparison(acc_a, acc_b, acc_a - acc_b, low, high, b, c, mcnemar_p(b, c), n, len(pairs), confidence)


def combined_predictions(predictions: dict) -> tuple[list[int], list[int]]:
    """A run's stored predictions (see RunStore.predictions) pooled as the combined test set."""
    predicted, gold = [], []
    for split in ("factual", "counterfactual"):
        if split in predictions:
            predicted += predictions[split]["predicted"]
            gold += predictions[split]["gold"]
    return predicted, gold


def run_predictions(store, run_id: int, evaluation: str | None = None) -> dict[str, dict[str, list[int]]]:
    """{split: {'predicted', 'gold'}} of a run's own test split, or of its evaluation ``evaluation``
    (StoreError naming the evaluations it has when it lacks that one)."""
    if evaluation is None:
        return store.predictions(run_id)
    found = store.get_evaluation(run_id, evaluation)
    stored = store.evaluation_predictions(found["id"])
    return {split: {"predicted": v["predicted"], "gold": v["gold"]} for split, v in stored.items()}


def compare_runs(store, runs_a: Sequence[dict], runs_b: Sequence[dict], evaluation: str | None = None, *,
                 shared_seeds_only: bool = False, **options) -> PairedComparison:
    """Compare two groups of runs on their combined test predictions, pairing runs by seed.

    Each group holds one run per seed and both groups the same seeds; a run in both
    groups, a repeated seed or a run without stored test predictions is refused (any of
    them would pair runs that are not a seed pair and overstate the evidence).
    ``evaluation``: use each run's evaluation of that name instead of its own test split.
    ``shared_seeds_only`` compares the seeds both groups have and leaves the others out.
    """
    seeds_a, seeds_b = _by_seed(runs_a, "A"), _by_seed(runs_b, "B")
    if shared_seeds_only:
        common = set(seeds_a) & set(seeds_b)
        if not common:
            raise ConfigError(f"runs {[r['id'] for r in runs_a]} and {[r['id'] for r in runs_b]} share no seed")
        seeds_a = {seed: run for seed, run in seeds_a.items() if seed in common}
        seeds_b = {seed: run for seed, run in seeds_b.items() if seed in common}
    shared = sorted(set(r["id"] for r in runs_a) & set(r["id"] for r in runs_b))
    if shared:
        raise ConfigError(f"run {shared[0]} is in both groups: a run compared with itself tells nothing")
    if set(seeds_a) != set(seeds_b):
        only_a = sorted(set(seeds_a) - set(seeds_b), key=str)
        only_b = sorted(set(seeds_b) - set(seeds_a), key=str)
        raise ConfigError("the groups must have the same seeds, one run each: "
                          + "; ".join(part for part in (f"seed(s) {only_a} only in A" if only_a else "",
                                                        f"seed(s) {only_b} only in B" if only_b else "") if part))
    pairs = []
    for seed in sorted(seeds_a, key=str):
        run_a, run_b = seeds_a[seed], seeds_b[seed]
        pred_a, gold_a = combined_predictions(run_predictions(store, run_a["id"], evaluation))
        pred_b, gold_b = combined_predictions(run_predictions(store, run_b["id"], evaluation))
        for run, gold in ((run_a, gold_a), (run_b, gold_b)):
            if not gold:
                raise ConfigError(f"run {run['id']} ({run.get('status')}) has no stored test predictions")
        if gold_a != gold_b:
            raise ConfigError(f"runs {run_a['id']} and {run_b['id']} were tested on different examples")
        pairs.append((pred_a, pred_b, gold_a))
    return compare_predictions(pairs, **options)


def _by_seed(runs: Sequence[dict], group: str) -> dict:
    found: dict = {}
    for run in runs:
        seed = run.get("seed")
        if seed in found:
            raise ConfigError(f"group {group} has two runs with seed {seed} ({found[seed]['id']} and {run['id']}): "
                              "runs are paired by seed, so give one run per seed")
        found[seed] = run
    if not found:
        raise ConfigError(f"group {group} has no runs")
    return found
