"""Exact top-K selection over a list of tensors, as if they were one vector.

Ties are broken by the lower flat index in the concatenation order, so the
result is deterministic. Rather than ``torch.topk`` over a concatenated copy
plus its int64 index output (which costs ~3 extra copies), scores are written
once into one flat buffer, the K-th largest value is found with
``torch.kthvalue``, and the mask is built by comparison.
"""

from __future__ import annotations

import math

from typing import Iterable, Sequence

import torch


def _threshold_mask(flat: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of the k largest entries of a 1-D tensor, ties to lower index."""
    n = flat.numel()
    if k >= n:
        return torch.ones(n, dtype=torch.bool, device=flat.device)
    if k <= 0:
        return torch.zeros(n, dtype=torch.bool, device=flat.device)
    # k-th largest == (n - k + 1)-th smallest
    source = flat.cpu() if flat.device.type == "mps" else flat  # MPS has no kthvalue
    threshold = torch.kthvalue(source, n - k + 1).values.to(flat.device)
    mask = flat > threshold
    missing = k - int(mask.sum())
    if missing > 0:
        tied = torch.nonzero(flat == threshold, as_tuple=False).flatten()[:missing]
        mask[tied] = True
    return mask


def global_topk_masks(scores: Iterable[torch.Tensor], shapes: Sequence[torch.Size], k: int) -> list[torch.Tensor]:
    """Boolean masks (one per shape) keeping the k globally largest scores.

    ``scores`` may be a generator: each score tensor is copied into one flat
    buffer as it comes, so only that buffer and one tensor's scores exist at
    once. Exactly k entries are True in total; ties go to the lower flat
    index in the order the tensors are given.
    """
    sizes = [math.prod(shape) for shape in shapes]
    flat = None
    offset = 0
    for s, size in zip(scores, sizes):
        if flat is None:
            flat = torch.empty(sum(sizes), dtype=s.dtype, device=s.device)
        flat[offset : offset + size].copy_(s.reshape(-1))
        offset += size
    mask = _threshold_mask(flat, k)
    del flat
    return [m.view(shape) for m, shape in zip(torch.split(mask, sizes), shapes)]


def split_k_by_size(sizes: Sequence[int], k: int) -> list[int]:
    """Split k over tensors in proportion to their sizes, summing exactly to k
    (largest remainders first, ties to the earlier tensor)."""
    total = sum(sizes)
    exact = [k * s / total for s in sizes]
    counts = [min(int(e), s) for e, s in zip(exact, sizes)]
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - int(exact[i])), i))
    left = k - sum(counts)
    for i in order:
        if left == 0:
            break
        if counts[i] < sizes[i]:
            counts[i] += 1
            left -= 1
    return counts


def per_tensor_topk_masks(scores: Sequence[torch.Tensor], k: int) -> list[torch.Tensor]:
    """Masks keeping, in each tensor, its share of k (proportional to size)."""
    counts = split_k_by_size([s.numel() for s in scores], k)
    return [_threshold_mask(s.reshape(-1), c).view(s.shape) for s, c in zip(scores, counts)]
