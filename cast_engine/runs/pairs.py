"""Every test pair of a run: texts, changed words, gold labels, predictions, outcome.

A pair is (original, revision). Its outcome is one of ``OUTCOMES``: both
right, only the original right, only the revision right, both wrong, so the
share of "both right" is the run's pair accuracy. ``followed_flip`` says
whether the prediction changed between original and revision where the gold
label did (None where the revision kept the gold label). ``changed_words`` is
the larger of the words removed and the words added by the revision (a one-word
substitution changes one word), from the word diff the Data page shows.

For NLI an original has up to four revisions: every row carries ``group``,
the index of its original, so a view can keep an original with all of its
revisions.

The flip ledger sets two runs (or two groups of seeds) side by side on the
same pairs: which pairs B gets right that A gets wrong and the reverse, with
the per-example counts McNemar's test uses.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.diff import count_changed, example_diff, example_text
from ..data.types import CadSplit
from ..errors import ConfigError, DataError

BOTH_RIGHT, ORIGINAL_ONLY, REVISION_ONLY, BOTH_WRONG = "both right", "original only", "revision only", "both wrong"
OUTCOMES = (BOTH_RIGHT, ORIGINAL_ONLY, REVISION_ONLY, BOTH_WRONG)
B_FIXES, B_BREAKS, BOTH_SAME_RIGHT, BOTH_SAME_WRONG = "B fixes", "B breaks", "both right", "both wrong"
LEDGER = (B_FIXES, B_BREAKS, BOTH_SAME_RIGHT, BOTH_SAME_WRONG)


@dataclass
class Predictions:
    """One model's (or one seed group's) predictions on a split; probabilities may be absent."""

    factual: list[int]
    counterfactual: list[int]
    prob_factual: np.ndarray | None = None
    prob_counterfactual: np.ndarray | None = None
    label: str = ""

    def confidence(self, side: str, index: int) -> float | None:
        """The probability of the predicted label of one example, if probabilities were kept."""
        probs = self.prob_factual if side == "factual" else self.prob_counterfactual
        if probs is None:
            return None
        predicted = (self.factual if side == "factual" else self.counterfactual)[index]
        return float(probs[index, predicted])


@dataclass
class PairData:
    """A split, the label names, and the predictions of one model (or group) on it."""

    split: CadSplit
    labels: list[str]
    predictions: Predictions
    source: str = ""


@dataclass
class PairRow:
    """One pair as the Pairs view shows it (label names, not indices)."""

    pair: int
    group: int
    original: str
    revision: str
    gold_original: str
    gold_revision: str
    predicted_original: str
    predicted_revision: str
    confidence_original: float | None
    confidence_revision: float | None
    outcome: str
    label_flipped: bool
    followed_flip: bool | None
    changed_words: int
    factual_index: int
    counterfactual_index: int
    other: dict = field(default_factory=dict)  # the ledger's B side: same keys as above, and 'ledger'
    segments: list = field(default_factory=list, repr=False)  # the word diff (data.diff segments) of the pair

    @property
    def label_pair(self) -> str:
        """'Positive → Negative': the gold labels of original and revision."""
        return f"{self.gold_original} → {self.gold_revision}"

    @property
    def confidence(self) -> float | None:
        """The lower confidence of the two predictions (how sure the model is of the whole pair)."""
        found = [c for c in (self.confidence_original, self.confidence_revision) if c is not None]
        return min(found) if found else None


def pair_rows(data: PairData) -> list[PairRow]:
    """One row per pair of ``data.split``, in the split's pair order."""
    split, labels, pred = data.split, data.labels, data.predictions
    _check_lengths(split, pred)
    rows = []
    for number, (f, c) in enumerate(split.pairs):
        original, revision = split.factual[f], split.counterfactual[c]
        right_o = pred.factual[f] == original.label
        right_r = pred.counterfactual[c] == revision.label
        flipped = original.label != revision.label
        segments = example_diff(original, revision)
        removed, added = count_changed(segments)
        rows.append(PairRow(
            pair=number, group=f, original=example_text(original), revision=example_text(revision),
            gold_original=labels[original.label], gold_revision=labels[revision.label],
            predicted_original=labels[pred.factual[f]], predicted_revision=labels[pred.counterfactual[c]],
            confidence_original=pred.confidence("factual", f), confidence_revision=pred.confidence("counterfactual", c),
            outcome=_outcome(right_o, right_r), label_flipped=flipped,
            followed_flip=(pred.factual[f] != pred.counterfactual[c]) if flipped else None,
            changed_words=max(removed, added), factual_index=f, counterfactual_index=c, segments=segments))
    return rows


def _outcome(right_original: bool, right_revision: bool) -> str:
    if right_original and right_revision:
        return BOTH_RIGHT
    if right_original:
        return ORIGINAL_ONLY
    return REVISION_ONLY if right_revision else BOTH_WRONG


def _check_lengths(split: CadSplit, pred: Predictions) -> None:
    if len(pred.factual) != len(split.factual) or len(pred.counterfactual) != len(split.counterfactual):
        raise DataError(f"the predictions ({len(pred.factual)} originals, {len(pred.counterfactual)} revisions) do not "
                        f"match the data ({len(split.factual)} originals, {len(split.counterfactual)} revisions): "
                        "the data changed since the run was tested")


@dataclass
class PairCounts:
    """How many pairs fall in each outcome, and how often the prediction followed a label flip."""

    outcomes: dict[str, int]
    total: int
    flipped: int
    followed: int

    @property
    def pair_accuracy(self) -> float | None:
        return self.outcomes[BOTH_RIGHT] / self.total if self.total else None


def count_outcomes(rows: Sequence[PairRow]) -> PairCounts:
    """Counts per outcome (every outcome present, in OUTCOMES order); they add up to len(rows)."""
    found = Counter(row.outcome for row in rows)
    flipped = [row for row in rows if row.label_flipped]
    return PairCounts({name: found.get(name, 0) for name in OUTCOMES}, len(rows), len(flipped),
                      sum(1 for row in flipped if row.followed_flip))


def filter_rows(rows: Iterable[PairRow], *, outcomes: Iterable[str] | None = None, label_pair: str | None = None,
                min_changed: int | None = None, max_changed: int | None = None,
                ledger: Iterable[str] | None = None) -> list[PairRow]:
    """The rows with one of ``outcomes``, the gold ``label_pair`` ('A → B'), a number of changed
    words in [min_changed, max_changed], and (ledger rows) one of the ``ledger`` categories."""
    wanted = set(outcomes) if outcomes is not None else None
    for name in wanted or ():
        if name not in OUTCOMES:
            raise ConfigError(f"outcome {name!r} is not one of: {', '.join(OUTCOMES)}")
    wanted_ledger = set(ledger) if ledger is not None else None
    for name in wanted_ledger or ():
        if name not in LEDGER:
            raise ConfigError(f"ledger category {name!r} is not one of: {', '.join(LEDGER)}")
    kept = []
    for row in rows:
        if wanted is not None and row.outcome not in wanted:
            continue
        if label_pair is not None and row.label_pair != label_pair:
            continue
        if min_changed is not None and row.changed_words < min_changed:
            continue
        if max_changed is not None and row.changed_words > max_changed:
            continue
        if wanted_ledger is not None and row.other.get("ledger") not in wanted_ledger:
            continue
        kept.append(row)
    return kept


def sort_by_confidence(rows: Sequence[PairRow], descending: bool = True) -> list[PairRow]:
    """Rows ordered by their pair confidence; rows without probabilities go last."""
    known = [r for r in rows if r.confidence is not None]
    unknown = [r for r in rows if r.confidence is None]
    return sorted(known, key=lambda r: r.confidence, reverse=descending) + unknown


def grouped(rows: Sequence[PairRow]) -> list[list[PairRow]]:
    """Rows grouped by original (an NLI original with all of its revisions), in first-seen order."""
    groups: dict[int, list[PairRow]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    return list(groups.values())


# ---------------------------------------------------------------- seed groups and the ledger

def combine_seeds(runs: Sequence[PairData]) -> PairData:
    """One PairData for a group of seeds on the same split: per example the label with the highest
    mean probability (with probabilities), else the majority vote (ties to the lower label index)."""
    if not runs:
        raise ConfigError("a seed group needs at least one run")
    first = runs[0]
    for other in runs[1:]:
        if _gold(other.split) != _gold(first.split):
            raise ConfigError(f"{other.predictions.label or 'a run'} and {first.predictions.label or 'another'} "
                              "were tested on different examples")
    if len(runs) == 1:
        return first
    n_labels = len(first.labels)
    sides = {}
    for side in ("factual", "counterfactual"):
        probs = [getattr(r.predictions, f"prob_{side}") for r in runs]
        if all(p is not None for p in probs):
            mean = np.mean(probs, axis=0).astype(np.float32)
            sides[side] = (mean.argmax(axis=1).tolist(), mean)
        else:
            votes = np.array([getattr(r.predictions, side) for r in runs])
            counts = np.stack([(votes == k).sum(axis=0) for k in range(n_labels)], axis=1)
            sides[side] = (counts.argmax(axis=1).tolist(), None)
    label = " + ".join(r.predictions.label for r in runs if r.predictions.label)
    combined = Predictions(sides["factual"][0], sides["counterfactual"][0], sides["factual"][1],
                           sides["counterfactual"][1], label)
    return PairData(first.split, first.labels, combined, first.source)


def _gold(split: CadSplit) -> tuple:
    return ([e.label for e in split.factual], [e.label for e in split.counterfactual], list(split.pairs))


@dataclass
class Ledger:
    """Pairs of A and B side by side, the pair-level counts, and McNemar's per-example counts."""

    rows: list[PairRow]
    categories: dict[str, int]
    a_right_b_wrong: int  # McNemar's b, over every example (originals and revisions)
    a_wrong_b_right: int  # McNemar's c
    n_examples: int


def flip_ledger(a: PairData, b: PairData) -> Ledger:
    """A's pair rows, each with B's predictions in ``other`` and its ledger category (B fixes:
    B gets the pair right and A does not; B breaks: the reverse)."""
    if _gold(a.split) != _gold(b.split):
        raise ConfigError("the two runs were tested on different examples: evaluate both on the same data "
                          "(cast evaluate … --data) and compare that evaluation")
    rows_a, rows_b = pair_rows(a), pair_rows(b)
    for row_a, row_b in zip(rows_a, rows_b):
        right_a, right_b = row_a.outcome == BOTH_RIGHT, row_b.outcome == BOTH_RIGHT
        category = (B_FIXES if right_b and not right_a else B_BREAKS if right_a and not right_b
                    else BOTH_SAME_RIGHT if right_a else BOTH_SAME_WRONG)
        row_a.other = {"ledger": category, "predicted_original": row_b.predicted_original,
                       "predicted_revision": row_b.predicted_revision, "confidence_original": row_b.confidence_original,
                       "confidence_revision": row_b.confidence_revision, "outcome": row_b.outcome,
                       "followed_flip": row_b.followed_flip}
    found = Counter(row.other["ledger"] for row in rows_a)
    gold = np.array([e.label for e in a.split.factual] + [e.label for e in a.split.counterfactual])
    ok_a = np.array(a.predictions.factual + a.predictions.counterfactual) == gold
    ok_b = np.array(b.predictions.factual + b.predictions.counterfactual) == gold
    return Ledger(rows_a, {name: found.get(name, 0) for name in LEDGER}, int(np.sum(ok_a & ~ok_b)),
                  int(np.sum(~ok_a & ok_b)), len(gold))


# ------------------------------------------------------------------------------------- CSV

CSV_COLUMNS = ("group", "pair", "original", "revision", "gold_original", "gold_revision", "predicted_original",
               "confidence_original", "predicted_revision", "confidence_revision", "outcome", "label_flipped",
               "followed_flip", "changed_words")
LEDGER_COLUMNS = ("ledger", "b_predicted_original", "b_confidence_original", "b_predicted_revision",
                  "b_confidence_revision", "b_outcome", "b_followed_flip")


def write_csv(rows: Sequence[PairRow], path: str | Path) -> Path:
    """Write pair rows (with B's columns when they are ledger rows) as CSV; returns the path."""
    path = Path(path).expanduser()
    ledger = any(row.other for row in rows)
    columns = CSV_COLUMNS + (LEDGER_COLUMNS if ledger else ())
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                values = [getattr(row, name) for name in CSV_COLUMNS]
                if ledger:
                    values += [row.other.get(name.removeprefix("b_")) for name in LEDGER_COLUMNS]
                writer.writerow(["" if v is None else round(v, 4) if isinstance(v, float) else v for v in values])
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
