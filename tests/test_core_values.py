"""Small facts of the core checked by value: significance boundaries and defaults, K's text,
the float keys of the top-K, K split over tensors, the mask overlap and its per-layer counts,
the sentiment loaders' second layout and their error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cast_engine.data.kaushik import is_kaushik_folder, load_kaushik
from cast_engine.errors import ConfigError, DataError, StoreError
from cast_engine.evaluate.significance import PairedComparison, compare_predictions, compare_runs, paired_bootstrap
from cast_engine.sparse.kspec import parse_k
from cast_engine.sparse.stats import jaccard, layer_of, per_layer_counts
from cast_engine.sparse.topk import _key, _unkey, split_k_by_size
from cast_engine.store import RunStore
from fixture_folders import fixture_folder  # noqa: E402

ORIG_NEW = fixture_folder("kaushik_orig_new")  # sentiment/orig + sentiment/new, row by row


def _comparison(p_value, low, high):
    return PairedComparison(0.6, 0.5, 0.1, low, high, 3, 1, p_value, 10, 1)


def test_significance_needs_p_below_the_level_and_an_interval_without_zero():
    assert _comparison(0.01, 0.02, 0.2).significant()
    assert _comparison(0.01, -0.2, -0.02).significant()
    assert not _comparison(0.05, 0.02, 0.2).significant()  # p equal to the level is not below it
    assert not _comparison(0.01, -0.2, 0.0).significant()  # an interval ending at zero includes it
    assert not _comparison(0.01, 0.0, 0.2).significant()
    assert _comparison(0.04, 0.02, 0.2).significant(level=0.05) and not _comparison(0.04, 0.02, 0.2).significant(level=0.01)


def test_bootstrap_default_seed_is_zero_and_samples_need_not_be_whole_thousands():
    a = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1]
    b = [0, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0]
    assert paired_bootstrap(a, b, samples=300) == paired_bootstrap(a, b, samples=300, seed=0)
    assert paired_bootstrap(a, b, samples=300, seed=0) != paired_bootstrap(a, b, samples=300, seed=1)
    low, high = paired_bootstrap(a, b, samples=2500)  # chunks of 1000, 1000, 500
    assert -1 <= low < high <= 1
    gold = [0, 1, 2] * 4
    pairs = [([g if i % 3 else 0 for i, g in enumerate(gold)], [g if i % 2 else 1 for i, g in enumerate(gold)], gold)]
    assert compare_predictions(pairs, samples=300).ci_low == compare_predictions(pairs, samples=300, seed=0).ci_low
    assert compare_predictions(pairs, samples=300).ci_high != compare_predictions(pairs, samples=300, seed=1).ci_high or \
        compare_predictions(pairs, samples=300).ci_low != compare_predictions(pairs, samples=300, seed=1).ci_low


def test_nothing_to_compare_messages():
    with pytest.raises(ConfigError, match="^nothing to compare: no pair of runs with predictions on the same test set$"):
        compare_predictions([])
    with pytest.raises(ConfigError, match="^nothing to compare: the test set is empty$"):
        compare_predictions([([], [], [])])


def test_runs_without_predictions_on_one_side_are_not_paired(store_path):
    with RunStore(store_path) as store:
        ids = [store.create_run({}, method=m, task="nli", variant="RH1", regime="cad", model="x", seed=1) for m in "ab"]
        store.save_predictions(ids[0], "factual", [0, 1], [0, 1])  # B kept no predictions
        for run_id in ids:
            store.finish_run(run_id, "completed")
        a, b = store.get_run(ids[0]), store.get_run(ids[1])
        with pytest.raises(ConfigError, match=rf"^run {ids[1]} \(completed\) has no stored test predictions"):
            compare_runs(store, [a], [b])


def test_k_as_text():
    assert str(parse_k("9.1%")) == "9.1%" and str(parse_k("0.5 %")) == "0.5%" and str(parse_k("1e4")) == "10000"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_float_keys_keep_the_order_and_round_trip(dtype):
    values = [-3.0, -1.0, -1e-3, -0.0, 0.0, 1e-3, 1.0, 3.0]
    keys = [_key(v, dtype) for v in values]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert _key(0.0, dtype) == 0 and _key(-0.0, dtype) == -1
    for v, key in zip(values, keys):
        back = _unkey(key, dtype)
        assert back == torch.tensor(v, dtype=dtype).item() and str(back) == str(torch.tensor(v, dtype=dtype).item())


def test_k_split_by_size_gives_largest_remainders_first():
    assert split_k_by_size([10, 30], 3) == [1, 2]  # exact 0.75 and 2.25: the 0.75 rounds up
    assert split_k_by_size([30, 10], 3) == [2, 1]
    assert split_k_by_size([5, 5, 5], 2) == [1, 1, 0]  # equal remainders: the earlier tensors
    assert split_k_by_size([1, 100], 50) == [0, 50]  # exact 0.495 and 49.505: the larger remainder wins
    assert sum(split_k_by_size([7, 11, 13], 9)) == 9


def test_jaccard_by_hand():
    a = [torch.tensor([True, True, False, False]), torch.tensor([True])]
    b = [torch.tensor([True, False, True, False]), torch.tensor([False])]
    assert jaccard(a, b) == pytest.approx(1 / 4)  # both: 1 entry; either: 4
    assert jaccard(a, a) == 1.0
    assert jaccard([], []) == 1.0
    none = [torch.zeros(3, dtype=torch.bool)]
    assert jaccard(none, none) == 1.0  # two empty masks are the same mask


def test_sentiment_orig_and_new_folders_pair_row_by_row():
    assert is_kaushik_folder(ORIG_NEW) and not is_kaushik_folder(ORIG_NEW / "sentiment")
    ds = load_kaushik(ORIG_NEW, "sentiment", "CAD")
    assert ds.variant == "CAD" and ds.task == "sentiment" and "orig/new paired by row" in ds.source
    assert [(e.text_a, e.label) for e in ds.train.factual] == [("A slow, empty film.", 0), ("Bright and clever.", 1)]
    assert [(e.text_a, e.label) for e in ds.train.counterfactual] == [("A calm, full film.", 1), ("Dim and clumsy.", 0)]
    assert ds.train.pairs == [(0, 0), (1, 1)]
    assert [e.text_a for e in ds.dev.counterfactual] == ["Worth not one minute."]
    assert [e.text_a for e in ds.test.factual] == ["The jokes fall flat."]
    assert [f"{p.parent.name}/{p.name}" for p in ds.files] == [
        "orig/train.tsv", "new/train.tsv", "orig/dev.tsv", "new/dev.tsv", "orig/test.tsv", "new/test.tsv"]
    raw = load_kaushik(ORIG_NEW, "sentiment", "RAW")
    assert raw.variant == "RAW" and len(raw.train.factual) == 2 and raw.train.counterfactual == [] and raw.train.pairs == []
    assert [split.name for split in (raw.train, raw.dev, raw.test, ds.train, ds.test)] == ["train", "dev", "test", "train", "test"]


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Sentiment\tText\tbatch_id"] + [f"{r['Sentiment']}\t{r['Text']}\t{r['batch_id']}" for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _paired(tmp_path, rows):
    folder = tmp_path / "sentiment" / "combined" / "paired"
    good = [{"Sentiment": "Negative", "Text": "x", "batch_id": "1"}, {"Sentiment": "Positive", "Text": "y", "batch_id": "1"}]
    write_rows(folder / "train_paired.tsv", rows)
    for split in ("dev", "test"):
        write_rows(folder / f"{split}_paired.tsv", good)
    return folder / "train_paired.tsv"


def test_sentiment_batch_errors_name_the_problem_and_the_lines(tmp_path):
    row = lambda label, batch: {"Sentiment": label, "Text": f"{label} {batch}", "batch_id": batch}  # noqa: E731
    path = _paired(tmp_path, [row("Negative", "1"), row("Positive", "1"), row("Negative", "")])
    with pytest.raises(DataError) as caught:
        load_kaushik(tmp_path, "sentiment")
    assert str(caught.value) == f"{path}, line 4: empty batch_id" and caught.value.line == 4 and caught.value.path == str(path)
    _paired(tmp_path, [row("Negative", "1"), row("Positive", "2"), row("Negative", "2")])
    with pytest.raises(DataError) as caught:
        load_kaushik(tmp_path, "sentiment")
    assert "batch_id '1' is unpaired (1 row); expected exactly 2 rows" in str(caught.value) and "(lines 2)" in str(caught.value)
    _paired(tmp_path, [row("Negative", "1"), row("Positive", "1"), row("Positive", "1")])
    with pytest.raises(DataError) as caught:
        load_kaushik(tmp_path, "sentiment")
    assert "batch_id '1' has 3 rows (duplicated)" in str(caught.value) and "(lines 2, 3, 4)" in str(caught.value)
    assert caught.value.line == 4


def _nli_tree(root: Path, originals: list[tuple[str, str]], hypothesis_revisions: list[tuple[str, str]]) -> Path:
    header = "sentence1\tsentence2\tgold_label"
    for kind, rows in (("original", originals), ("revised_hypothesis", hypothesis_revisions)):
        for split in ("train", "dev", "test"):
            path = root / "NLI" / kind / f"{split}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join([header] + [f"{a}\t{b}\tneutral" for a, b in rows]) + "\n", encoding="utf-8")
    return root


def test_every_unconfirmed_original_is_counted(tmp_path):
    originals = [("A cat sits.", "An animal rests."), ("A boy runs.", "A child moves."), ("It rains.", "It is wet.")]
    revisions = [("A cat sits!", "h1"), ("A cat sits.", "h2"),  # premise changed in the first revision
                 ("A boy runs.", "h3"), ("A boy runs.", "h4"),  # both keep the premise
                 ("It snows.", "h5"), ("It snows.", "h6")]  # both changed
    ds = load_kaushik(_nli_tree(tmp_path, originals, revisions), "nli", "RH")
    assert ds.train.unconfirmed_pairs == 2 and ds.test.unconfirmed_pairs == 2


def test_unstorable_results_are_named(store_path):
    with RunStore(store_path) as store:
        run_id = store.create_run({}, method="m", task="nli", variant="RH1", regime="cad", model="x", seed=1)
        with pytest.raises(StoreError, match="^results cannot be stored as JSON"):
            store.finish_run(run_id, "completed", results={"combined": object()})
        assert store.get_run(run_id)["status"] == "running"


def test_a_missing_revision_row_is_named(tmp_path):
    import shutil

    shutil.copytree(ORIG_NEW, tmp_path / "data")
    new = tmp_path / "data" / "sentiment" / "new" / "train.tsv"
    new.write_text(new.read_text(encoding="utf-8").splitlines()[0] + "\nPositive\tOnly one.\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"has 1 rows, expected 2 \(one revision of each of the 2 rows of .*orig/train.tsv\)"):
        load_kaushik(tmp_path / "data", "sentiment")


def test_a_missing_revision_folder_is_named(tmp_path):
    import shutil

    shutil.copytree(fixture_folder("kaushik") / "NLI" / "original", tmp_path / "NLI" / "original")
    with pytest.raises(DataError) as caught:
        load_kaushik(tmp_path, "nli", "RP1")
    assert caught.value.path == str(tmp_path / "NLI" / "revised_premise")
    assert "missing folder 'revised_premise' (expected file train.tsv)" in str(caught.value)


def test_a_missing_data_folder_is_named(tmp_path):
    missing = tmp_path / "no such folder"
    for task in ("sentiment", "nli"):
        with pytest.raises(DataError) as caught:
            load_kaushik(missing, task)
        assert str(caught.value) == f"{missing}: folder not found" and caught.value.path == str(missing)


def test_mask_counts_per_layer_by_hand():
    """The per-layer table of a mask (shown with each CAST and LT-SFT mask) labels BERT, RoBERTa
    and GPT-2 parameter names by layer, embeddings and head."""
    labels = {
        "bert.embeddings.word_embeddings.weight": "embeddings",
        "roberta.embeddings.LayerNorm.weight": "embeddings",
        "bert.encoder.layer.0.attention.self.query.weight": "layer 0",
        "roberta.encoder.layer.11.output.dense.bias": "layer 11",
        "transformer.h.3.attn.c_attn.weight": "layer 3",
        "bert.pooler.dense.weight": "head",
        "classifier.out_proj.weight": "head",
        "score.weight": "head",
        "lm_head.dense.bias": "head",
        "transformer.ln_f.weight": "other",
    }
    assert {name: layer_of(name) for name in labels} == labels
    names = ["bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.output.dense.weight",
             "bert.encoder.layer.0.output.dense.bias", "bert.pooler.dense.weight", "classifier.weight"]
    masks = [torch.tensor([True, False, False, True]), torch.tensor([[True, True], [False, True]]),
             torch.tensor([False, False]), torch.tensor([True]), torch.tensor([False, True, True])]
    counts = per_layer_counts(names, masks)
    assert counts == {"embeddings": [2, 4], "layer 0": [3, 6], "head": [3, 4]}
    assert list(counts) == ["embeddings", "layer 0", "head"]  # model order
