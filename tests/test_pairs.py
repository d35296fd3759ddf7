"""Pair rows, outcome counts, NLI groups, the flip ledger and their CSV: hand-made cases,
then real runs of the tiny model."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from cast_engine.data.types import CadSplit, Example
from cast_engine.errors import ConfigError
from cast_engine.runs.pairs import (
    BOTH_RIGHT,
    BOTH_WRONG,
    ORIGINAL_ONLY,
    REVISION_ONLY,
    PairData,
    Predictions,
    combine_seeds,
    count_outcomes,
    filter_rows,
    flip_ledger,
    grouped,
    pair_rows,
    sort_by_confidence,
    write_csv,
)
from cast_engine.evaluate.significance import compare_predictions

LABELS = ["Negative", "Positive"]


def sentiment_split() -> CadSplit:
    factual = [Example("a good film", None, 1), Example("a bad film", None, 0),
               Example("great acting and a fine plot", None, 1), Example("dull", None, 0)]
    counterfactual = [Example("a bad film", None, 0), Example("a good film", None, 1),
                      Example("poor acting and a weak plot", None, 0), Example("dull", None, 0)]
    return CadSplit("test", factual, counterfactual, [(0, 0), (1, 1), (2, 2), (3, 3)])


def data(fac, cf, prob_fac=None, prob_cf=None, label="A") -> PairData:
    return PairData(sentiment_split(), LABELS, Predictions(fac, cf, prob_fac, prob_cf, label))


def test_outcomes_follow_the_flip_and_changed_words():
    rows = pair_rows(data([1, 0, 0, 1], [0, 0, 0, 1]))
    assert [r.outcome for r in rows] == [BOTH_RIGHT, ORIGINAL_ONLY, REVISION_ONLY, BOTH_WRONG]
    assert [r.label_flipped for r in rows] == [True, True, True, False]
    assert [r.followed_flip for r in rows] == [True, False, False, None]  # pair 3 keeps its gold label
    assert [r.changed_words for r in rows] == [1, 1, 2, 0]  # good→bad; bad→good; great/fine→poor/weak
    assert rows[0].label_pair == "Positive → Negative"
    assert (rows[1].predicted_original, rows[1].predicted_revision) == ("Negative", "Negative")
    counts = count_outcomes(rows)
    assert counts.outcomes == {BOTH_RIGHT: 1, ORIGINAL_ONLY: 1, REVISION_ONLY: 1, BOTH_WRONG: 1}
    assert sum(counts.outcomes.values()) == counts.total == 4
    assert counts.pair_accuracy == 0.25 and (counts.flipped, counts.followed) == (3, 1)


def test_filters_and_confidence_order():
    probs_f = np.array([[0.1, 0.9], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]], dtype=np.float32)
    probs_c = np.array([[0.95, 0.05], [0.55, 0.45], [0.99, 0.01], [0.4, 0.6]], dtype=np.float32)
    rows = pair_rows(data([1, 0, 0, 1], [0, 0, 0, 1], probs_f, probs_c))
    assert rows[0].confidence_original == pytest.approx(0.9) and rows[0].confidence == pytest.approx(0.9)
    assert [r.pair for r in sort_by_confidence(rows)] == [0, 2, 3, 1]  # min of the two confidences
    assert [r.pair for r in filter_rows(rows, outcomes=[ORIGINAL_ONLY, BOTH_WRONG])] == [1, 3]
    assert [r.pair for r in filter_rows(rows, label_pair="Positive → Negative")] == [0, 2]
    assert [r.pair for r in filter_rows(rows, min_changed=2)] == [2]
    assert [r.pair for r in filter_rows(rows, max_changed=0)] == [3]
    with pytest.raises(ConfigError, match="outcome 'half right'"):
        filter_rows(rows, outcomes=["half right"])


def test_nli_groups_an_original_with_all_its_revisions():
    factual = [Example("p0", "h0", 0), Example("p1", "h1", 1)]
    counterfactual = [Example("p0 x", "h0", 1), Example("p0", "h0 y", 2), Example("p1 z", "h1", 0)]
    split = CadSplit("test", factual, counterfactual, [(0, 0), (0, 1), (1, 2)])
    rows = pair_rows(PairData(split, ["entailment", "neutral", "contradiction"], Predictions([0, 0], [1, 1, 0])))
    groups = grouped(rows)
    assert [[r.pair for r in g] for g in groups] == [[0, 1], [2]]
    assert rows[1].original == "p0 ‖ h0" and rows[1].revision == "p0 ‖ h0 y"
    assert [r.outcome for r in rows] == [BOTH_RIGHT, ORIGINAL_ONLY, REVISION_ONLY]


def test_flip_ledger_counts_match_mcnemar():
    a = data([1, 0, 0, 1], [0, 0, 0, 1], label="run 1")
    b = data([1, 0, 1, 0], [0, 1, 1, 0], label="run 2")
    ledger = flip_ledger(a, b)
    assert [r.other["ledger"] for r in ledger.rows] == ["both right", "B fixes", "both wrong", "B fixes"]
    assert ledger.categories == {"B fixes": 2, "B breaks": 0, "both right": 1, "both wrong": 1}
    gold = [1, 0, 1, 0, 0, 1, 0, 0]
    reference = compare_predictions([([1, 0, 0, 1, 0, 0, 0, 1], [1, 0, 1, 0, 0, 1, 1, 0], gold)], samples=100)
    assert (ledger.a_right_b_wrong, ledger.a_wrong_b_right) == (reference.b, reference.c)
    assert ledger.n_examples == 8


def test_seed_group_takes_the_mean_probability_or_the_vote():
    p = [np.array([[0.4, 0.6], [0.9, 0.1], [0.3, 0.7], [0.5, 0.5]], dtype=np.float32),
         np.array([[0.8, 0.2], [0.6, 0.4], [0.4, 0.6], [0.7, 0.3]], dtype=np.float32)]
    runs = [data([1, 0, 1, 0], [0, 0, 0, 1], p[0], p[1], "s1"), data([0, 0, 1, 0], [0, 0, 0, 1], p[1], p[0], "s2")]
    group = combine_seeds(runs)
    assert group.predictions.factual == [0, 0, 1, 0]  # mean of 0.6 and 0.2 for Positive is 0.4
    votes = combine_seeds([data([1, 0, 1, 0], [0, 1, 0, 1]), data([1, 1, 1, 0], [0, 1, 1, 1]), data([0, 0, 1, 0], [0, 0, 0, 1])])
    assert votes.predictions.factual == [1, 0, 1, 0] and votes.predictions.counterfactual == [0, 1, 0, 1]


def test_csv_has_one_row_per_pair_and_the_ledger_columns(tmp_path):
    ledger = flip_ledger(data([1, 0, 0, 1], [0, 0, 0, 1]), data([1, 0, 1, 0], [0, 1, 1, 0]))
    path = write_csv(ledger.rows, tmp_path / "ledger.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    assert rows[1]["ledger"] == "B fixes" and rows[1]["outcome"] == ORIGINAL_ONLY and rows[1]["b_outcome"] == BOTH_RIGHT
    assert rows[2]["original"] == "great acting and a fine plot" and rows[2]["changed_words"] == "2"


# ------------------------------------------------------------------------- real runs

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Full fine-tuning on demo NLI (ALL: up to four revisions per original) with two seeds."""
    from engine_fixtures import build_tiny_model

    from cast_engine.config import DataConfig, RunConfig, TrainConfig
    from cast_engine.methods.registry import get_method
    from cast_engine.runs.runner import run

    root = tmp_path_factory.mktemp("pairs")
    model = build_tiny_model(root / "tiny")
    db = root / "runs.sqlite"
    ids = []
    for seed in (1, 2):
        config = RunConfig(data=DataConfig(data="demo", task="nli", variant="ALL"),
                           train=TrainConfig(max_epochs=1, batch_size=16, max_length=48, device="cpu", lr=1e-3, seed=seed),
                           method=get_method("full").config_cls(), model=str(model))
        result = run(config, store=db)
        assert result.status == "completed", result.reason
        ids.append(result.run_id)
    return db, ids


def test_real_run_counts_add_up_to_its_pair_accuracy_and_groups_hold_every_revision(runs):
    from cast_engine.runs.evaluate import evaluate_run
    from cast_engine.runs.pair_data import run_pair_data
    from cast_engine.runs.evaluation_data import EvaluateConfig
    from cast_engine.store import RunStore

    db, (a, b) = runs
    with RunStore(db) as store:
        results = store.get_run(a)["results"]
        rows = pair_rows(run_pair_data(store, a))
        evaluate_run(store, a, EvaluateConfig())
        with_probs = pair_rows(run_pair_data(store, a, "test"))
        data_b = run_pair_data(store, b)
        compared = compare_predictions([(
            store.predictions(a)["factual"]["predicted"] + store.predictions(a)["counterfactual"]["predicted"],
            store.predictions(b)["factual"]["predicted"] + store.predictions(b)["counterfactual"]["predicted"],
            store.predictions(a)["factual"]["gold"] + store.predictions(a)["counterfactual"]["gold"])], samples=100)
        ledger = flip_ledger(run_pair_data(store, a), data_b)
    counts = count_outcomes(rows)
    assert counts.total == results["n_pairs"] == len(rows)
    assert sum(counts.outcomes.values()) == counts.total
    assert counts.pair_accuracy == pytest.approx(results["pair"])
    assert [r.outcome for r in with_probs] == [r.outcome for r in rows]
    assert all(r.confidence is not None for r in with_probs) and all(r.confidence is None for r in rows)
    groups = grouped(rows)
    assert sum(len(g) for g in groups) == len(rows) == results["n_counterfactual"]
    assert max(len(g) for g in groups) == 4  # NLI ALL: RP1, RP2, RH1, RH2 of one original together
    assert all(len({r.original for r in g}) == 1 for g in groups)
    assert (ledger.a_right_b_wrong, ledger.a_wrong_b_right) == (compared.b, compared.c)
    assert sum(ledger.categories.values()) == len(rows)


def test_mean_curve_bands_over_seeds():
    from cast_engine.experiments.seed_groups import mean_curve

    runs = [[{"epoch": 1, "val_combined": 0.5}, {"epoch": 2, "val_combined": 0.7}],
            [{"epoch": 1, "val_combined": 0.6}, {"epoch": 2, "val_combined": 0.9}],
            [{"epoch": 1, "val_combined": 0.7}]]
    std = mean_curve(runs, "val_combined")
    assert std.epochs == [1, 2] and std.n == [3, 2]
    assert std.mean == pytest.approx([60.0, 80.0])
    assert std.high[0] - std.mean[0] == pytest.approx(10.0)  # sample std of 50, 60, 70
    assert std.high[1] - std.mean[1] == pytest.approx(14.1421, abs=1e-3)
    span = mean_curve(runs, "val_combined", "min–max")
    assert (span.low, span.high) == ([50.0, 70.0], [70.0, 90.0])
    with pytest.raises(ConfigError, match="band"):
        mean_curve(runs, "val_combined", "iqr")
