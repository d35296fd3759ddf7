"""The Kaushik et al. loaders on the real data: counts, pairing and variants (NOTICE.md facts)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from cast_engine.data import dataset_stats, format_stats, load_cad, read_table
from cast_engine.data.kaushik import load_kaushik
from cast_engine.data.types import NLI_LABELS, NLI_VARIANTS, SENTIMENT_LABELS

SPLITS = ("train", "dev", "test")

# NOTICE.md: folder -> (train, dev, test) rows, header excluded
NOTICE_COUNTS = {
    "sentiment/orig": (1707, 245, 488),
    "sentiment/new": (1707, 245, 488),
    "sentiment/combined": (3414, 490, 976),
    "sentiment/combined/paired": (3414, 490, 976),
    "NLI/original": (1666, 200, 400),
    "NLI/revised_premise": (3332, 400, 800),
    "NLI/revised_hypothesis": (3332, 400, 800),
    "NLI/revised_combined": (6664, 800, 1600),
    "NLI/all_combined": (8330, 1000, 2000),
}
NLI_SIZES = {"train": 1666, "dev": 200, "test": 400}
REVISIONS_PER_ORIGINAL = {"RAW": 0, "RP1": 1, "RP2": 1, "RH1": 1, "RH2": 1, "RP": 2, "RH": 2, "ALL": 4}


@functools.cache
def _load(root: Path, task: str, variant: str):
    return load_kaushik(root, task, variant)


@pytest.mark.parametrize("folder", NOTICE_COUNTS)
def test_row_counts_match_notice(cad_dir, folder):
    for split, expected in zip(SPLITS, NOTICE_COUNTS[folder]):
        name = f"{split}_paired.tsv" if folder.endswith("paired") else f"{split}.tsv"
        table = read_table(cad_dir / folder / name)
        assert len(table.rows) == expected, (folder, split)


def test_sentiment_cad_pairs_originals_with_revisions(cad_dir):
    ds = _load(cad_dir, "sentiment", "CAD")
    assert ds.labels == SENTIMENT_LABELS and ds.task == "sentiment" and ds.variant == "CAD"
    for split, size in zip(SPLITS, (1707, 245, 488)):
        part = ds.split(split)
        assert len(part.factual) == len(part.counterfactual) == len(part.pairs) == size
        assert part.pairs == [(i, i) for i in range(size)]
        assert part.unconfirmed_pairs == 0
    first = ds.train.factual[0]
    assert first.text_b is None
    assert first.text_a.startswith("Long, boring, blasphemous.")
    assert ds.train.counterfactual[0].text_a.startswith("Long, fascinating, soulful.")
    assert (first.label, ds.train.counterfactual[0].label) == (0, 1)
    assert [p.name for p in ds.files] == ["train_paired.tsv", "dev_paired.tsv", "test_paired.tsv"]
    assert all(p.is_file() for p in ds.files)


def test_sentiment_every_revision_flips_the_label(cad_dir):
    stats = dataset_stats(_load(cad_dir, "sentiment", "CAD"))
    for split, size in zip(SPLITS, (1707, 245, 488)):
        assert stats["splits"][split]["same_label_pairs"] == 0
        assert stats["splits"][split]["label_pairs_unordered"] == {"Negative-Positive": size}


def test_sentiment_raw_has_no_counterfactuals(cad_dir):
    ds = _load(cad_dir, "sentiment", "RAW")
    assert len(ds.train.factual) == 1707
    assert ds.train.counterfactual == [] and ds.train.pairs == []


def test_sentiment_orig_new_fallback_pairs_row_by_row(cad_dir, tmp_path):
    (tmp_path / "sentiment").mkdir()
    for name in ("orig", "new"):  # links, not copies of the data
        (tmp_path / "sentiment" / name).symlink_to(cad_dir / "sentiment" / name, target_is_directory=True)
    ds = load_kaushik(tmp_path, "sentiment", "CAD")
    assert [len(ds.split(s).counterfactual) for s in SPLITS] == [1707, 245, 488]
    assert ds.train.pairs[:3] == [(0, 0), (1, 1), (2, 2)]
    assert len(ds.files) == 6 and "orig/new" in ds.source
    orig = read_table(cad_dir / "sentiment" / "orig" / "train.tsv")
    assert ds.train.factual[5].text_a == orig.rows[5]["Text"]


@pytest.mark.parametrize("variant", NLI_VARIANTS)
def test_nli_variant_sizes(cad_dir, variant):
    ds = _load(cad_dir, "nli", variant)
    assert ds.labels == NLI_LABELS and ds.variant == variant
    per = REVISIONS_PER_ORIGINAL[variant]
    for split, size in NLI_SIZES.items():
        part = ds.split(split)
        assert len(part.factual) == size
        assert len(part.counterfactual) == len(part.pairs) == per * size
    files_per_split = 1 + {"RAW": 0, "ALL": 2}.get(variant, 1)
    assert len(ds.files) == 3 * files_per_split


def test_nli_rh1_train_sizes(cad_dir):
    ds = _load(cad_dir, "nli", "RH1")
    assert (len(ds.train.factual), len(ds.train.counterfactual)) == (1666, 1666)
    assert len(_load(cad_dir, "nli", "RP").train.counterfactual) == 3332
    assert len(_load(cad_dir, "nli", "ALL").train.counterfactual) == 6664


def test_nli_revisions_follow_rows_2i_and_2i_plus_1(cad_dir):
    premise = read_table(cad_dir / "NLI" / "revised_premise" / "train.tsv")
    rp1, rp2, rp = (_load(cad_dir, "nli", v).train for v in ("RP1", "RP2", "RP"))
    assert rp1.counterfactual[10].text_a == premise.rows[20]["sentence1"]
    assert rp2.counterfactual[10].text_a == premise.rows[21]["sentence1"]
    assert rp1.pairs[10] == (10, 10) and rp.pairs[20:22] == [(10, 20), (10, 21)]
    # a premise revision keeps the original's hypothesis
    assert rp1.counterfactual[10].text_b == rp1.factual[10].text_b
    everything = _load(cad_dir, "nli", "ALL").train
    assert everything.pairs[3332] == (0, 3332)  # hypothesis revisions follow the premise ones


def test_nli_pairing_facts(cad_dir):
    original = read_table(cad_dir / "NLI" / "original" / "train.tsv")
    premise = read_table(cad_dir / "NLI" / "revised_premise" / "train.tsv")
    confirmed = sum(
        all(r["sentence2"] == row["sentence2"] for r in premise.rows[2 * i : 2 * i + 2])
        for i, row in enumerate(original.rows)
    )
    assert confirmed == 1661
    for variant in ("RP1", "RP2", "RP", "ALL"):
        assert _load(cad_dir, "nli", variant).train.unconfirmed_pairs == 5, variant
    for variant in ("RAW", "RH1", "RH2", "RH"):
        assert _load(cad_dir, "nli", variant).train.unconfirmed_pairs == 0, variant
    for variant in NLI_VARIANTS:
        ds = _load(cad_dir, "nli", variant)
        assert ds.dev.unconfirmed_pairs <= 1 and ds.test.unconfirmed_pairs <= 1, variant


@pytest.mark.parametrize("first, second", [("RP1", "RP2"), ("RH1", "RH2")])
def test_figure3_versions_have_similar_label_pairs(cad_dir, first, second):
    one = dataset_stats(_load(cad_dir, "nli", first))["splits"]
    two = dataset_stats(_load(cad_dir, "nli", second))["splits"]
    for split in SPLITS:
        a, b = one[split]["label_pairs"], two[split]["label_pairs"]
        assert len(a) == 6  # every revision changes the label: 6 ordered pairs
        assert max(abs(a.get(k, 0) - b.get(k, 0)) for k in set(a) | set(b)) <= 44
        assert one[split]["same_label_pairs"] == 0
        assert set(one[split]["label_pairs_unordered"]) == {
            "neutral-contradiction",
            "contradiction-entailment",
            "entailment-neutral",
        }


def test_stats_and_table_text(cad_dir):
    stats = dataset_stats(_load(cad_dir, "nli", "RP1"))
    train = stats["splits"]["train"]
    assert (train["factual"], train["counterfactual"], train["pairs"], train["unconfirmed_pairs"]) == (1666, 1666, 1666, 5)
    assert train["factual_labels"] == {"entailment": 562, "neutral": 554, "contradiction": 550}
    assert sum(train["counterfactual_labels"].values()) == 1666
    assert sum(train["label_pairs_unordered"].values()) == 1666
    text = format_stats(stats)
    assert "RP1" in text and "1666" in text and "neutral-contradiction" in text


def test_load_cad_opens_kaushik_folders(cad_dir):
    ds = load_cad(cad_dir, "nli")
    assert ds.variant == "RH1" and len(ds.train.counterfactual) == 1666
    assert load_cad(str(cad_dir / "sentiment"), "sentiment").variant == "CAD"
    assert load_cad(cad_dir, "NLI", "rp").variant == "RP"
