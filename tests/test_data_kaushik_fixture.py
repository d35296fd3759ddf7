"""The Kaushik et al. loaders on a tiny hand-made folder of the same layout
(tests/fixtures/kaushik.json: invented sentences, not the real data): which revision
each NLI variant takes, the pairing, the labels, the sentiment batches."""

from __future__ import annotations


import pytest

from cast_engine.data.kaushik import is_kaushik_folder, load_kaushik
from fixture_folders import fixture_folder  # noqa: E402

FOLDER = fixture_folder("kaushik")
E, N, C = 0, 1, 2  # entailment, neutral, contradiction

# NLI/revised_premise/train.tsv rows 2i and 2i+1 revise original row i
PREMISE_1 = [("A man sells a guitar at a market.", N), ("Two dogs sleep by the fireplace.", E)]
PREMISE_2 = [("A man sits silently beside a guitar.", C), ("Two dogs rest somewhere.", N)]
HYPOTHESIS_1 = [("A man is sitting in the audience.", C), ("The animals are outside.", E)]
HYPOTHESIS_2 = [("A man is famous.", N), ("The dogs are racing each other.", N)]
ORIGINAL = [("A man plays a guitar on stage.", "A man is performing music.", E),
            ("Two dogs run across a snowy field.", "The animals are asleep indoors.", C)]


def _premises(split):
    return [(ex.text_a, ex.label) for ex in split.counterfactual]


def _hypotheses(split):
    return [(ex.text_b, ex.label) for ex in split.counterfactual]


def test_the_fixture_is_a_kaushik_folder():
    assert is_kaushik_folder(FOLDER)


def test_originals_are_the_factual_examples():
    train = load_kaushik(FOLDER, "nli", "RAW").train
    assert [(ex.text_a, ex.text_b, ex.label) for ex in train.factual] == ORIGINAL
    assert train.counterfactual == [] and train.pairs == []


def test_rp1_takes_the_first_premise_revision_and_rp2_the_second():
    rp1 = load_kaushik(FOLDER, "nli", "RP1").train
    rp2 = load_kaushik(FOLDER, "nli", "RP2").train
    assert _premises(rp1) == PREMISE_1
    assert _premises(rp2) == PREMISE_2
    for split in (rp1, rp2):
        assert split.pairs == [(0, 0), (1, 1)]
        # a premise revision keeps the original's hypothesis
        assert [ex.text_b for ex in split.counterfactual] == [o[1] for o in ORIGINAL]


def test_rh1_takes_the_first_hypothesis_revision_and_rh2_the_second():
    rh1 = load_kaushik(FOLDER, "nli", "RH1").train
    rh2 = load_kaushik(FOLDER, "nli", "RH2").train
    assert _hypotheses(rh1) == HYPOTHESIS_1
    assert _hypotheses(rh2) == HYPOTHESIS_2
    assert [ex.text_a for ex in rh1.counterfactual] == [o[0] for o in ORIGINAL]
    assert rh1.pairs == rh2.pairs == [(0, 0), (1, 1)]


def test_both_revisions_in_file_order_and_all_four():
    rp = load_kaushik(FOLDER, "nli", "RP").train
    assert _premises(rp) == [PREMISE_1[0], PREMISE_2[0], PREMISE_1[1], PREMISE_2[1]]
    assert rp.pairs == [(0, 0), (0, 1), (1, 2), (1, 3)]
    rh = load_kaushik(FOLDER, "nli", "RH").train
    assert _hypotheses(rh) == [HYPOTHESIS_1[0], HYPOTHESIS_2[0], HYPOTHESIS_1[1], HYPOTHESIS_2[1]]
    everything = load_kaushik(FOLDER, "nli", "ALL").train
    assert len(everything.counterfactual) == 8
    assert everything.pairs == [(0, 0), (0, 1), (1, 2), (1, 3), (0, 4), (0, 5), (1, 6), (1, 7)]
    assert [ex.text_a for ex in everything.counterfactual[:4]] == [t for t, _ in _premises(rp)]
    assert [ex.text_b for ex in everything.counterfactual[4:]] == [t for t, _ in _hypotheses(rh)]


def test_dev_and_test_splits_and_unconfirmed_pairs():
    ds = load_kaushik(FOLDER, "nli", "RP2")
    assert [s.name for s in (ds.train, ds.dev, ds.test)] == ["train", "dev", "test"]
    assert ds.source == f"Kaushik et al. CAD (NLI) at {FOLDER}"
    assert [ex.text_a for ex in ds.dev.counterfactual] == ["A child holds a closed book."]
    assert [ex.text_a for ex in ds.test.counterfactual] == ["A woman removes paint from a fence."]
    assert [ex.label for ex in ds.test.counterfactual] == [C]
    assert ds.test.unconfirmed_pairs == 0
    # the second hypothesis revision of the test original changed its premise too ("a red fence")
    assert load_kaushik(FOLDER, "nli", "RH1").test.unconfirmed_pairs == 1
    assert load_kaushik(FOLDER, "nli", "RH1").train.unconfirmed_pairs == 0
    assert load_kaushik(FOLDER, "nli", "ALL").test.unconfirmed_pairs == 1
    assert [p.parent.name + "/" + p.name for p in ds.files] == [
        "original/train.tsv", "revised_premise/train.tsv", "original/dev.tsv", "revised_premise/dev.tsv",
        "original/test.tsv", "revised_premise/test.tsv"]


def test_sentiment_batches_pair_an_original_with_its_revision():
    ds = load_kaushik(FOLDER, "sentiment", "CAD")
    assert [(ex.text_a, ex.label) for ex in ds.train.factual] == [
        ("A dull, lifeless film.", 0), ("The cast shines throughout.", 1)]
    assert [(ex.text_a, ex.label) for ex in ds.train.counterfactual] == [
        ("A lively, gripping film.", 1), ("The cast stumbles throughout.", 0)]
    assert ds.train.pairs == [(0, 0), (1, 1)]
    assert ds.train.factual[0].text_b is None
    assert [ex.text_a for ex in ds.test.factual] == ["Too long by an hour."]
    raw = load_kaushik(FOLDER, "sentiment", "RAW")
    assert len(raw.train.factual) == 2 and raw.train.counterfactual == [] and raw.train.pairs == []


@pytest.mark.parametrize("variant", ["RP1", "RP2", "RH1", "RH2"])
def test_one_revision_variants_have_one_pair_per_original(variant):
    ds = load_kaushik(FOLDER, "nli", variant)
    assert [len(ds.split(s).pairs) for s in ("train", "dev", "test")] == [2, 1, 1]
