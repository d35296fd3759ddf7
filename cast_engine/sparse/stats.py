"""Statistics of a mask: entries kept per layer, Jaccard overlap between masks."""

from __future__ import annotations

import re
from typing import Sequence

import torch

_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")


def layer_of(name: str) -> str:
    """A short layer label for a parameter name: 'embeddings', 'layer 3', 'head'…"""
    match = _LAYER.search(name)
    if match:
        return f"layer {int(match.group(1))}"
    low = name.lower()
    if "embed" in low:
        return "embeddings"
    if "classifier" in low or "score" in low or "pooler" in low or "head" in low:
        return "head"
    return "other"


def per_layer_counts(names: Sequence[str], masks: Sequence[torch.Tensor]) -> dict[str, list[int]]:
    """{layer: [kept, total]} in model order."""
    counts: dict[str, list[int]] = {}
    kept = torch.stack([mask.sum() for mask in masks]).tolist() if masks else []  # one device sync, not one per tensor
    for name, mask, n in zip(names, masks, kept):
        entry = counts.setdefault(layer_of(name), [0, 0])
        entry[0] += int(n)
        entry[1] += mask.numel()
    return counts


def jaccard(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """|A ∩ B| / |A ∪ B| of two masks given as aligned lists of bool tensors."""
    pairs = list(zip(a, b))
    if not pairs:
        return 1.0
    inter = torch.stack([(x & y).sum() for x, y in pairs]).sum()
    union = torch.stack([(x | y).sum() for x, y in pairs]).sum()
    inter, union = int(inter), int(union)
    return inter / union if union else 1.0
