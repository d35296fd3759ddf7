"""Exact top-K: the same entries as torch.topk, exactly K of them, ties to the lower index."""

from __future__ import annotations

import pytest
import torch

from cast_engine.errors import ConfigError
from cast_engine.sparse.kspec import KSpec, parse_k
from cast_engine.sparse.topk import global_topk_masks, per_tensor_topk_masks, split_k_by_size


def _shapes():
    return [torch.Size([300, 40]), torch.Size([40]), torch.Size([7, 9, 5]), torch.Size([1000])]


@pytest.mark.parametrize("k", [1, 17, 1000, 5000, 13355])
def test_global_topk_equals_torch_topk(k):
    g = torch.Generator().manual_seed(k)
    scores = [torch.rand(s, generator=g) for s in _shapes()]
    masks = global_topk_masks(iter(scores), _shapes(), k)
    flat = torch.cat([s.flatten() for s in scores])
    expected = torch.zeros_like(flat, dtype=torch.bool)
    expected[flat.topk(k).indices] = True
    assert torch.equal(torch.cat([m.flatten() for m in masks]), expected)
    assert all(m.shape == s for m, s in zip(masks, _shapes()))


def test_ties_go_to_the_lower_flat_index():
    scores = [torch.tensor([1.0, 5.0, 5.0]), torch.tensor([5.0, 5.0, 0.0])]
    masks = global_topk_masks(scores, [s.shape for s in scores], 3)
    assert masks[0].tolist() == [False, True, True]
    assert masks[1].tolist() == [True, False, False]
    zeros = [torch.zeros(4), torch.zeros(4)]  # all tied: the first k entries
    masks = global_topk_masks(zeros, [z.shape for z in zeros], 5)
    assert masks[0].tolist() == [True] * 4 and masks[1].tolist() == [True, False, False, False]


def test_k_as_large_as_everything():
    scores = [torch.rand(5), torch.rand(3)]
    masks = global_topk_masks(scores, [s.shape for s in scores], 8)
    assert all(m.all() for m in masks)


def test_per_tensor_split_sums_to_k():
    assert sum(split_k_by_size([10, 20, 70], 7)) == 7
    assert split_k_by_size([50, 50], 3) == [2, 1]
    scores = [torch.rand(s) for s in ([100], [300], [600])]
    masks = per_tensor_topk_masks(scores, 100)
    assert [int(m.sum()) for m in masks] == [10, 30, 60]


def test_parse_k():
    assert parse_k("1%") == KSpec(fraction=0.01)
    assert parse_k("10000") == KSpec(count=10000)
    assert parse_k("1e7") == KSpec(count=10_000_000)
    assert parse_k(500).resolve(1000) == 500
    assert parse_k("9.1%").resolve(1000) == 91
    for bad in ("abc", "0", "-5", "150%", "0%", "2.5", ""):
        with pytest.raises(ConfigError, match="k = "):
            parse_k(bad)
    with pytest.raises(ConfigError, match="larger than the 1,000 eligible"):
        parse_k("1001").resolve(1000)
