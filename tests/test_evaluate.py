"""`cast evaluate` and named evaluations: real runs of the tiny model on the demo data and on
paired files a user brings."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from engine_fixtures import build_tiny_model

from cast_engine.errors import ConfigError, DataError, StoreError
from cast_engine.runs.evaluate import evaluate_run, unpack_examples
from cast_engine.evaluate.significance import compare_runs
from cast_engine.runs.evaluation_data import EvaluateConfig
from cast_engine.store import RunStore


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A store with two full fine-tuning runs (seeds 1, 2) on the demo sentiment data."""
    from cast_engine.config import DataConfig, RunConfig, TrainConfig
    from cast_engine.methods.registry import get_method
    from cast_engine.runs.runner import run

    root = tmp_path_factory.mktemp("evaluate")
    model = build_tiny_model(root / "tiny")
    db = root / "runs.sqlite"
    ids = []
    for seed in (1, 2):
        config = RunConfig(data=DataConfig(data="demo", task="sentiment"),
                           train=TrainConfig(max_epochs=2, batch_size=16, max_length=48, device="cpu", lr=1e-3, seed=seed),
                           method=get_method("full").config_cls(), model=str(model))
        result = run(config, store=db)
        assert result.status == "completed", result.reason
        ids.append(result.run_id)
    return db, ids


@pytest.fixture
def store(trained, tmp_path):
    """A copy of the trained store per test, so evaluations of one test do not leak into another."""
    import sqlite3

    db, _ = trained
    copy = tmp_path / "runs.sqlite"
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # with what is still in the write-ahead log
    shutil.copytree(db.parent / f"{db.name}.artifacts", tmp_path / "runs.sqlite.artifacts")  # the saved models
    with RunStore(copy) as opened:
        yield opened


def sentiment_pairs(n: int, *, label_names=("pos", "neg"), split_column: bool = False) -> list[dict]:
    """n pairs: an original and its revision with the other label, as a user's paired file has them."""
    rows = []
    for i in range(n):
        good, bad = label_names
        rows.append({"pair_id": f"p{i}", "role": "original", "label": good,
                     "text": f"a truly wonderful film number {i}, warm and funny", "split": "dev" if i % 2 else "test"})
        rows.append({"pair_id": f"p{i}", "role": "revised", "label": bad,
                     "text": f"a truly dreadful film number {i}, cold and dull", "split": "dev" if i % 2 else "test"})
    if not split_column:
        for row in rows:
            del row["split"]
    return rows


def test_own_test_split_reproduces_the_runs_test_accuracy_with_probabilities(store, trained):
    run_id = trained[1][0]
    outcome = evaluate_run(store, run_id, EvaluateConfig())
    assert not outcome.reused
    evaluation = outcome.evaluation
    assert evaluation["name"] == "test"
    stored = store.get_run(run_id)["results"]
    for key in ("factual", "counterfactual", "combined", "pair"):
        assert evaluation["results"][key] == pytest.approx(stored[key])
    predictions = store.evaluation_predictions(evaluation["id"])
    original = store.predictions(run_id)
    for split in ("factual", "counterfactual"):
        assert predictions[split]["predicted"] == original[split]["predicted"]
        assert predictions[split]["gold"] == original[split]["gold"]
        probabilities = predictions[split]["probabilities"]
        assert probabilities.shape == (len(original[split]["gold"]), 2)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
        assert probabilities.argmax(axis=1).tolist() == predictions[split]["predicted"]
    assert len(evaluation["data_sha256"]) == 64 and evaluation["data_files"]


def test_the_same_data_again_is_the_stored_evaluation_even_when_the_file_moved(store, trained, table_writer, tmp_path):
    run_id = trained[1][0]
    path = table_writer("contrast.csv", sentiment_pairs(6))
    first = evaluate_run(store, run_id, EvaluateConfig(data=str(path)))
    moved = tmp_path / "elsewhere" / "renamed.csv"
    moved.parent.mkdir()
    shutil.copyfile(path, moved)
    again = evaluate_run(store, run_id, EvaluateConfig(data=str(moved)))
    assert again.reused and again.evaluation["id"] == first.evaluation["id"]
    assert len(store.list_evaluations(run_id)) == 1
    path.write_text(path.read_text().replace("number 0,", "number zero,"))
    changed = evaluate_run(store, run_id, EvaluateConfig(data=str(path), name="contrast-edited"))
    assert not changed.reused and len(store.list_evaluations(run_id)) == 2


def test_a_paired_file_is_evaluated_whole_with_labels_matched_by_name(store, trained, table_writer):
    run_id = trained[1][0]
    path = table_writer("mine.jsonl", sentiment_pairs(7, label_names=("POSITIVE", "Neg")))
    evaluation = evaluate_run(store, run_id, EvaluateConfig(data=str(path))).evaluation
    results = evaluation["results"]
    assert (results["n_factual"], results["n_counterfactual"], results["n_pairs"]) == (7, 7, 7)  # no 80/10/10 split
    assert evaluation["name"] == "mine" and evaluation["labels"] == ["Negative", "Positive"]
    split = unpack_examples(store.evaluation_examples(evaluation["id"]))
    assert [e.label for e in split.factual] == [1] * 7 and [e.label for e in split.counterfactual] == [0] * 7
    assert split.factual[3].text_a == "a truly wonderful film number 3, warm and funny"


def test_a_label_the_model_does_not_know_is_refused_naming_it_the_file_and_the_line(store, trained, table_writer):
    run_id = trained[1][0]
    rows = sentiment_pairs(3)
    rows[3]["label"] = "mixed"  # header is line 1, so data row 3 (0-based) is line 5
    path = table_writer("bad.csv", rows)
    with pytest.raises(DataError) as caught:
        evaluate_run(store, run_id, EvaluateConfig(data=str(path)))
    message = str(caught.value)
    assert "'mixed'" in message and str(path) in message and "line 5" in message
    assert store.list_evaluations(run_id) == []


def test_split_chooses_rows_of_a_file_with_a_split_column(store, trained, table_writer):
    run_id = trained[1][0]
    path = table_writer("both.csv", sentiment_pairs(5, split_column=True))
    dev = evaluate_run(store, run_id, EvaluateConfig(data=str(path), split="dev")).evaluation
    assert dev["name"] == "both-dev" and dev["results"]["n_pairs"] == 2  # pairs 1 and 3
    plain = table_writer("plain.csv", sentiment_pairs(3))
    with pytest.raises(ConfigError, match="has no 'split' column"):
        evaluate_run(store, run_id, EvaluateConfig(data=str(plain), split="dev"))


def test_other_data_under_a_taken_name_is_refused(store, trained, table_writer):
    run_id = trained[1][0]
    evaluate_run(store, run_id, EvaluateConfig(data=str(table_writer("a.csv", sentiment_pairs(3))), name="contrast"))
    with pytest.raises(StoreError, match="already has an evaluation named 'contrast'"):
        evaluate_run(store, run_id, EvaluateConfig(data=str(table_writer("b.csv", sentiment_pairs(4))), name="contrast"))


def test_compare_on_an_evaluation_uses_its_predictions(store, trained, table_writer):
    a, b = trained[1]
    path = table_writer("contrast.csv", sentiment_pairs(8))
    evaluations = [evaluate_run(store, run_id, EvaluateConfig(data=str(path))).evaluation for run_id in (a, b)]
    runs_a, runs_b = [store.get_run(a)], [store.get_run(b)]
    runs_b[0]["seed"] = runs_a[0]["seed"]  # pair the two runs as seeds of two methods
    result = compare_runs(store, runs_a, runs_b, "contrast", samples=200)
    assert result.n_examples == 16
    assert result.accuracy_a == pytest.approx(evaluations[0]["results"]["combined"])
    assert result.accuracy_b == pytest.approx(evaluations[1]["results"]["combined"])
    with pytest.raises(StoreError, match="no evaluation named 'other'"):
        compare_runs(store, runs_a, runs_b, "other", samples=200)


def test_deleting_a_run_deletes_its_evaluations(store, trained):
    run_id = trained[1][0]
    evaluate_run(store, run_id, EvaluateConfig())
    store.delete_run(run_id)
    assert store.list_evaluations() == []
    assert store._read("SELECT COUNT(*) AS n FROM evaluation_predictions")[0]["n"] == 0


def test_progress_counts_every_example_and_cancel_stops(store, trained):
    from cast_engine.errors import RunCancelled
    from cast_engine.train.events import CancelToken

    run_id = trained[1][0]
    seen = []
    evaluate_run(store, run_id, EvaluateConfig(batch_size=8), progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] and len(seen) > 1
    cancel = CancelToken()
    cancel.cancel("stopped by the user")
    with pytest.raises(RunCancelled):
        evaluate_run(store, run_id, EvaluateConfig(split="dev"), cancel=cancel)
    assert [e["name"] for e in store.list_evaluations(run_id)] == ["test"]
