"""Masks over model parameters: scoring, selection of exactly K entries, the CAST merge."""

from __future__ import annotations

from typing import Sequence

import torch

from .topk import global_topk_masks, per_tensor_topk_masks

Tensors = dict[str, torch.Tensor]



def score(criterion: str, ori: torch.Tensor, fac: torch.Tensor, counter: torch.Tensor | None) -> torch.Tensor:
    """Per-entry score of one tensor under a mask criterion.

    disagreement: |θ_counter − θ_fac| (Eq. 1 of the paper);
    factual_magnitude: |θ_fac − θ_ori| (LT-SFT's ranking);
    joint_magnitude: |θ_fac − θ_ori| + |θ_counter − θ_ori|.
    """
    if criterion == "disagreement":
        return (counter - fac).abs_()
    if criterion == "factual_magnitude":
        return (fac - ori).abs_()
    if criterion == "joint_magnitude":
        return (fac - ori).abs_().add_((counter - ori).abs_())
    raise ValueError(f"unknown mask criterion {criterion!r}")


def select_mask(names: Sequence[str], criterion: str, ori: Tensors, fac: Tensors, counter: Tensors | None,
                k: int, scope: str = "global", device: torch.device | None = None) -> Tensors:
    """Exactly k entries over the named tensors, by score (global or per-tensor top-k).

    With ``device``, each tensor is moved there as it is scored (snapshots may
    live in host memory while the model trains on a GPU).
    """
    shapes = [ori[n].shape for n in names]

    def on(t):
        return t if t is None or device is None else t.to(device, non_blocking=True)

    scores = (score(criterion, on(ori[n]), on(fac[n]), on(counter[n]) if counter is not None else None) for n in names)
    if scope == "global":
        masks = global_topk_masks(scores, shapes, k)
    elif scope == "per_tensor":
        masks = per_tensor_topk_masks(list(scores), k)
    else:
        raise ValueError(f"unknown mask scope {scope!r}")
    return dict(zip(names, masks))


MERGE_CHUNK = 1 << 20  # entries merged at a time on CPU: temporaries stay small next to an embedding matrix
MERGE_CHUNK_DEVICE = 1 << 24  # on accelerators: fewer kernel launches


@torch.no_grad()
def cast_merge(param: torch.Tensor, ori: torch.Tensor, fac: torch.Tensor, counter: torch.Tensor,
               alpha: float, mask: torch.Tensor | None) -> None:
    """Write Eq. 2–3 into ``param``: θ_rol = θ_ori + M⊙(θ_fac − θ_ori); θ = θ_rol + α·M⊙(θ_counter − θ_fac).

    Outside the mask the result is θ_ori bit for bit; with ``mask`` None the
    whole tensor is merged (dense, non-eligible parameters). ``counter`` may be
    ``param`` itself. Works through the tensor in chunks, so the temporaries
    never grow with the largest tensor.
    """
    flat = [t.reshape(-1) if t is not None else None for t in (param, ori, fac, counter, mask)]
    out, o, f, c, m = flat
    if out.data_ptr() != param.data_ptr():
        raise ValueError("cast_merge needs a contiguous parameter")
    chunk = MERGE_CHUNK if out.device.type == "cpu" else MERGE_CHUNK_DEVICE
    for start in range(0, out.numel(), chunk):
        part = slice(start, start + chunk)
        merged = (o[part] + (f[part] - o[part])) + alpha * (c[part] - f[part])
        out[part].copy_(merged if m is None else torch.where(m[part], merged, o[part]))
