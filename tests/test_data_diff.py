"""word_diff / changed_words: word-level differences between a text and its revision."""

from __future__ import annotations

import random

import pytest

from cast_engine.data import load_cad
from cast_engine.data.diff import changed_words, example_diff, example_text, word_diff
from cast_engine.data.types import Example


def rebuild(segments, drop):
    return "".join(text for op, text in segments if op != drop)


def check(original, revised):
    segments = word_diff(original, revised)
    assert rebuild(segments, "added") == original
    assert rebuild(segments, "removed") == revised
    assert all(op in ("same", "removed", "added") and text for op, text in segments)
    assert all(a[0] != b[0] for a, b in zip(segments, segments[1:]))
    return segments


def test_kaushik_sentiment_pair():
    original = "Long, boring, blasphemous. Never have I been so glad to see ending credits roll."
    revised = "Long, fascinating, soulful. Never have I been so sad to see ending credits roll."
    assert check(original, revised) == [
        ("same", "Long, "),
        ("removed", "boring, blasphemous."),
        ("added", "fascinating, soulful."),
        ("same", " Never have I been so "),
        ("removed", "glad"),
        ("added", "sad"),
        ("same", " to see ending credits roll."),
    ]
    assert changed_words(original, revised) == (3, 3)


@pytest.mark.parametrize(
    "original, revised, expected",
    [
        ("", "", []),
        ("same text", "same text", [("same", "same text")]),
        ("", "new words", [("added", "new words")]),
        ("old words", "", [("removed", "old words")]),
        ("a x b", "a b", [("same", "a "), ("removed", "x "), ("same", "b")]),
        ("a b", "a x y b", [("same", "a "), ("added", "x y "), ("same", "b")]),
        ("a b", "a", [("same", "a"), ("removed", " b")]),
        ("good.", "bad.", [("removed", "good."), ("added", "bad.")]),
    ],
)
def test_edge_cases(original, revised, expected):
    assert check(original, revised) == expected


def test_whitespace_changes_keep_both_texts():
    segments = check("a  b\n c", "a b c")
    assert [text for op, text in segments if op == "same"] == ["a", "b", "c"]
    assert changed_words("a  b\n c", "a b c") == (0, 0)


def test_changed_words_counts():
    assert changed_words("the film was great fun", "the film was dull") == (2, 1)
    assert changed_words("x", "x") == (0, 0)
    assert changed_words("", "one two three") == (0, 3)


def test_random_texts_round_trip():
    rng = random.Random(0)
    vocabulary = ["a", "b", "c", "word,", "x.", " ", "  ", "\n", "\t"]
    for _ in range(3000):
        original = "".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 14)))
        revised = "".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 14)))
        check(original, revised)


def test_example_diff_compares_sentence_pairs_part_by_part():
    premise = "A man is riding a bicycle."
    original = Example(premise, "A man is cycling.", 0)
    revised = Example(premise, "A woman is cycling.", 2)
    segments = example_diff(original, revised)
    assert rebuild(segments, "added") == example_text(original) == f"{premise} ‖ A man is cycling."
    assert rebuild(segments, "removed") == example_text(revised)
    assert [(op, text) for op, text in segments if op != "same"] == [("removed", "man"), ("added", "woman")]
    single = example_diff(Example("good", None, 1), Example("bad", None, 0))
    assert single == [("removed", "good"), ("added", "bad")]


def test_demo_pairs_round_trip():
    for task in ("sentiment", "nli"):
        ds = load_cad("demo", task)
        for f, c in ds.train.pairs:
            original, revised = ds.train.factual[f], ds.train.counterfactual[c]
            segments = example_diff(original, revised)
            assert rebuild(segments, "added") == example_text(original)
            assert rebuild(segments, "removed") == example_text(revised)
