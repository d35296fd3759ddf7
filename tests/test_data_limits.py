"""A training limit that keeps one label of a file ordered by label is named before anything trains."""

from __future__ import annotations

from cast_engine.config import DataConfig
from cast_engine.data.types import CadDataset, CadSplit, Example
from cast_engine.runs import dataset as run_dataset


def _sorted_by_label(n_per_label: int) -> CadSplit:
    factual = [Example(f"review {i}", None, 0) for i in range(n_per_label)]
    factual += [Example(f"review {n_per_label + i}", None, 1) for i in range(n_per_label)]
    revised = [Example(f"revised {i}", None, 1 - e.label) for i, e in enumerate(factual)]
    return CadSplit("train", factual, revised, [(i, i) for i in range(len(factual))])


def _load_with(monkeypatch, train_limit: int) -> CadDataset:
    def fake_load_cad(*args, **kwargs):
        mixed = CadSplit("dev", [Example("a", None, 0), Example("b", None, 1)], [], [])
        return CadDataset("sentiment", "CAD", ["Negative", "Positive"], _sorted_by_label(50), mixed, mixed, "test")

    monkeypatch.setattr("cast_engine.data.load_cad", fake_load_cad)
    return run_dataset.load_data(DataConfig(data="demo", task="sentiment", variant="CAD", train_limit=train_limit))


def test_a_limit_that_keeps_one_label_is_named(monkeypatch):
    dataset = _load_with(monkeypatch, 20)
    assert len(dataset.train.factual) == 20 and len(dataset.notes) == 1
    note = dataset.notes[0]
    assert "train_limit 20" in note and "Negative 20, Positive 0" in note and "Negative 50, Positive 50" in note


def test_a_limit_that_keeps_both_labels_says_nothing(monkeypatch):
    assert _load_with(monkeypatch, 80).notes == []  # 50 negative and 30 positive originals
    assert _load_with(monkeypatch, 0).notes == []


def test_the_real_sentiment_files_list_negatives_first_and_a_small_limit_says_so(cad_dir):
    from cast_engine.runs.dataset import load_data

    dataset = load_data(DataConfig(data=str(cad_dir), task="sentiment", variant="CAD", train_limit=200))
    assert any("Negative 199, Positive 1" in note for note in dataset.notes)  # the real files list negatives first
