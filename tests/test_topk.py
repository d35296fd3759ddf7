"""Exact top-K: the same entries as torch.topk, exactly K of them, ties to the lower index.

The sampled fast path is forced on small inputs by shrinking its constants
(``fast_path``), so brackets that miss, tied bands, the exact bisection and
the device code (on CUDA, where there is one) all run in a few seconds."""

from __future__ import annotations

import pytest
import torch

from cast_engine.errors import ConfigError
from cast_engine.sparse import topk as topk_module
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


# --- the sampled fast path (forced on small inputs by shrinking its constants) ---------------

_DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _reference(flat: torch.Tensor, k: int) -> torch.Tensor:
    """The spec: the k largest, ties to the lower flat index (stable descending sort)."""
    mask = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    mask[torch.sort(flat.float(), descending=True, stable=True).indices[:k]] = True
    return mask


def _select(parts, k):
    masks = global_topk_masks(iter(parts), [p.shape for p in parts], k)
    assert [m.shape for m in masks] == [p.shape for p in parts]
    out = torch.cat([m.reshape(-1) for m in masks])
    assert int(out.sum()) == min(k, out.numel())
    return out


def _split(flat: torch.Tensor, cuts=(0.13, 0.5, 0.51, 0.9)):
    edges = [0] + [int(c * flat.numel()) for c in cuts] + [flat.numel()]
    return [flat[a:b].clone() for a, b in zip(edges, edges[1:])]


@pytest.fixture
def fast_path(monkeypatch):
    """Sampled path on a few thousand values: tiny sample, odd-sized pieces."""
    monkeypatch.setattr(topk_module, "_EXACT_BELOW", 0)
    monkeypatch.setattr(topk_module, "_SAMPLE", 256)
    monkeypatch.setattr(topk_module, "_CPU_PIECE", 1001)
    monkeypatch.setattr(topk_module, "_DEVICE_PIECE", 1001)
    monkeypatch.setattr(topk_module, "_DEVICE_GROUP", 3000)
    monkeypatch.setattr(topk_module, "_TIE_PIECE", 333)


@pytest.mark.parametrize("device", _DEVICES)
@pytest.mark.parametrize("n", [1, 9, 2000, 30011])
def test_fast_path_same_set_as_torch_topk(fast_path, device, n):
    g = torch.Generator().manual_seed(n)
    flat = torch.randn(n, generator=g, dtype=torch.float64).to(device)  # no ties
    for k in sorted(k for k in {0, 1, 2, 3, n // 3, n // 2, n - 3, n - 2, n - 1, n, n + 5} if k >= 0):
        expected = torch.zeros(n, dtype=torch.bool, device=device)
        if k:
            expected[flat.topk(min(k, n)).indices] = True
        assert torch.equal(_select(_split(flat), k), expected), k


@pytest.mark.parametrize("device", _DEVICES)
@pytest.mark.parametrize("kind", ["levels", "all_equal", "zeros", "spike", "signed_zeros", "ones_in_zeros"])
def test_ties_go_to_lowest_indices(fast_path, device, kind):
    g = torch.Generator().manual_seed(1)
    n = 20000
    if kind == "levels":
        flat = torch.randint(0, 5, (n,), generator=g).float() / 4
    elif kind == "all_equal":
        flat = torch.full((n,), 0.37)
    elif kind == "zeros":
        flat = torch.zeros(n)
    elif kind == "spike":  # 60% of the values are one value, in the middle of the ranking
        flat = torch.rand(n, generator=g)
        flat[torch.rand(n, generator=g) < 0.6] = 0.5
    elif kind == "ones_in_zeros":  # exactly 5000 entries above the tied zeros
        flat = torch.zeros(n)
        flat[torch.randperm(n, generator=g)[:5000]] = 1.0
    else:
        flat = torch.where(torch.rand(n, generator=g) < 0.5, torch.tensor(0.0), torch.tensor(-0.0))
        flat[::7] = 1.0
    flat = flat.to(device)
    for k in (1, 57, 4999, 5000, 5001, 11999, 12000, 12001, 19999):
        assert torch.equal(_select(_split(flat), k), _reference(flat, k)), (kind, k)


@pytest.mark.parametrize("device", _DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_low_precision_scores(fast_path, device, dtype):
    g = torch.Generator().manual_seed(2)
    flat = torch.randn(30000, generator=g).abs_().to(dtype).to(device)  # many ties in 16 bits
    for k in (1, 300, 10000, 29000):
        assert torch.equal(_select(_split(flat), k), _reference(flat, k)), k


def test_brackets_that_miss_are_retried(fast_path, monkeypatch):
    g = torch.Generator().manual_seed(3)
    flat = torch.randn(20000, generator=g)
    calls = []

    def lying_sample(self, size, gen):  # a sample from some other distribution entirely
        calls.append(size)
        return torch.randn(size, generator=gen) * 0.01 + (3.0 if len(calls) % 2 else -3.0)

    monkeypatch.setattr(topk_module._Scores, "sample", lying_sample)
    for k in (1, 10, 4000, 10000, 19990):
        assert torch.equal(_select(_split(flat), k), _reference(flat, k)), k
    assert calls


def test_narrow_bracket_misses_and_bisection(fast_path, monkeypatch):
    g = torch.Generator().manual_seed(4)
    flat = torch.cat([torch.randn(15000, generator=g), torch.full((5000,), 0.25)])[torch.randperm(20000, generator=g)]
    monkeypatch.setattr(topk_module, "_SIGMAS", 0.0)  # bracket of ±2 sampled ranks: misses often
    for k in (1, 700, 6000, 8000, 12000, 19999):
        assert torch.equal(_select(_split(flat), k), _reference(flat, k)), k
    monkeypatch.setattr(topk_module, "_ROUNDS", 0)  # no sampled bracket: exact bisection on the bits
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        x = flat.to(dtype)
        for k in (1, 700, 6000, 8000, 19999):
            assert torch.equal(_select(_split(x), k), _reference(x, k)), (dtype, k)


def test_band_too_wide_is_bracketed_again(fast_path, monkeypatch):
    g = torch.Generator().manual_seed(5)
    flat = torch.rand(20000, generator=g)
    flat[(flat > 0.4) & (flat < 0.6)] = 0.5  # a spike straddled by the bracket
    monkeypatch.setattr(topk_module, "_SIGMAS", 40.0)  # a very wide bracket: the band passes the cap
    for k in (100, 8000, 10000, 12000):
        assert torch.equal(_select(_split(flat), k), _reference(flat, k)), k


def test_default_constants_on_a_few_hundred_thousand_values():
    g = torch.Generator().manual_seed(6)
    parts = [torch.randn(s, generator=g, dtype=torch.float64).abs_() for s in (200_000, 768, 100_000, 3)]
    flat = torch.cat(parts)
    for k in (1, 1000, 30000, 150000, flat.numel() - 1):
        expected = torch.zeros(flat.numel(), dtype=torch.bool)
        expected[flat.topk(k).indices] = True
        assert torch.equal(_select(parts, k), expected), k


@pytest.mark.parametrize("device", _DEVICES)
def test_per_tensor_fast_path(fast_path, device):
    g = torch.Generator().manual_seed(7)
    scores = [(torch.randint(0, 50, (n,), generator=g).float() / 7).to(device) for n in (5000, 20, 15000)]
    masks = per_tensor_topk_masks(scores, 2000)
    for s, m, c in zip(scores, masks, split_k_by_size([s.numel() for s in scores], 2000)):
        assert torch.equal(m, _reference(s, c))


def test_mixed_dtypes_follow_the_first_tensor_and_sizes_are_checked(fast_path):
    g = torch.Generator().manual_seed(8)
    parts = [torch.randn(3000, generator=g).abs_(), torch.randn(2000, generator=g, dtype=torch.float64).abs_()]
    flat = torch.cat([parts[0], parts[1].float()])
    assert torch.equal(_select(parts, 1234), _reference(flat, 1234))
    with pytest.raises(ValueError, match="scores of 3000 values"):
        global_topk_masks(parts, [torch.Size([10]), torch.Size([2000])], 5)
    with pytest.raises(ValueError, match="2 score tensors for 3 shapes"):
        global_topk_masks(parts, [torch.Size([3000]), torch.Size([2000]), torch.Size([1])], 5)
    assert global_topk_masks([], [], 3) == []


def test_a_bracket_one_entry_short_of_k_is_a_miss(fast_path, monkeypatch):
    """k one past a block of tied levels: a narrow bracket often puts its lower end on that
    level, which then holds k - 1 entries; the threshold is below it and must be searched for."""
    monkeypatch.setattr(topk_module, "_SIGMAS", 0.0)  # bracket of ±2 sampled ranks
    for seed in range(3):
        g = torch.Generator().manual_seed(10 + seed)
        flat = torch.randint(0, 8, (20000,), generator=g).float()
        for level in range(1, 8):
            k = int((flat >= level).sum()) + 1
            assert torch.equal(_select(_split(flat), k), _reference(flat, k)), (seed, level)


@pytest.mark.parametrize("device", _DEVICES)
def test_scan_keeps_every_candidate_up_to_the_cap(fast_path, device):
    """The scan's candidate list is complete when the band holds exactly ``cap`` values, and
    dropped (None) past it; the counts and the mask above ``hi`` are exact either way. (The
    selection reaches a band of exactly ``cap`` values only by chance, so it is checked here.)"""
    g = torch.Generator().manual_seed(9)
    flat = torch.randn(5000, generator=g).to(device)
    lo, hi = -0.1, 0.3
    band = ((flat >= lo) & (flat <= hi)).nonzero().view(-1)
    for cap in (band.numel() - 1, band.numel(), band.numel() + 1):
        scores = topk_module._Scores(_split(flat))
        n_above, n_band, cand = scores.scan(lo, hi, cap)
        assert (n_above, n_band) == (int((flat > hi).sum()), band.numel())
        assert torch.equal(scores.mask, flat > hi)
        if cap < band.numel():
            assert cand is None
        else:
            idx, val = cand
            assert torch.equal(idx, band) and torch.equal(val, flat[band])


@pytest.mark.parametrize("path", ["exact", "sampled"])
def test_later_tensors_are_compared_in_the_first_ones_dtype(path, monkeypatch):
    """A float64 score that rounds to the float32 of the first tensor ties with it: ties go to
    the lower index, not to the value that was larger before rounding."""
    if path == "sampled":
        monkeypatch.setattr(topk_module, "_EXACT_BELOW", 0)
        monkeypatch.setattr(topk_module, "_SAMPLE", 256)
    parts = [torch.ones(3000), torch.full((2000,), 1.0 + 1e-12, dtype=torch.float64)]
    masks = global_topk_masks(parts, [p.shape for p in parts], 1000)
    assert int(masks[0].sum()) == 1000 and bool(masks[0][:1000].all()) and not masks[1].any()
