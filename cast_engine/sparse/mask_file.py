"""A run's final sparsity mask on disk, and the mask atlas: share kept per layer and per kind.

CAST and LT-SFT select a mask over the eligible parameters; the one of the
weights a run kept (with ``restore_best``, the best epoch's) is kept in its
artifact folder as ``mask.safetensors`` (deleted with the run): one uint8 tensor of packed bits per parameter tensor (numpy's
``packbits``, big-endian bit order), the shapes in the metadata. A mask of a
MiniLM (22 M entries) takes about 3 MB.

Kinds of parameters (``kind_of``): query, key, value, attention output,
feed-forward in, feed-forward out, LayerNorm, biases, embeddings, head; a
LayerNorm's bias counts as LayerNorm, every other bias as biases.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import ModelError

FORMAT = "cast-mask"
MASK_FILE = "mask.safetensors"  # in the run's artifact folder
KINDS = ("query", "key", "value", "attention output", "feed-forward in", "feed-forward out", "LayerNorm",
         "biases", "embeddings", "head", "other")


def kind_of(name: str) -> str:
    """The kind of a parameter tensor, from its name (BERT, RoBERTa, DeBERTa, MiniLM naming)."""
    from .stats import layer_of  # here, not at the top: stats imports torch, and run folders import this module

    low = name.lower()
    if "layernorm" in low or "layer_norm" in low or low.endswith(".ln.weight") or ".ln_" in low:
        return "LayerNorm"
    if layer_of(name) == "head":
        return "head"
    if low.endswith(".bias"):
        return "biases"
    if "embed" in low:
        return "embeddings"
    for marker, kind in ((".query", "query"), ("q_proj", "query"), (".key", "key"), ("k_proj", "key"),
                         (".value", "value"), ("v_proj", "value"), ("attention.output", "attention output"),
                         ("out_proj", "attention output"), ("intermediate", "feed-forward in"),
                         ("output.dense", "feed-forward out")):
        if marker in low:
            return kind
    return "other"


def save_mask(path: Path, masks: Mapping[str, object]) -> Path:
    """Write ``masks`` ({parameter name: bool tensor or array}) as packed bits; returns the path."""
    import torch
    from safetensors.torch import save_file

    tensors, shapes = {}, {}
    for name, mask in masks.items():
        array = mask.detach().cpu().numpy() if hasattr(mask, "detach") else np.asarray(mask)
        shapes[name] = list(array.shape)
        tensors[name] = torch.from_numpy(np.packbits(array.astype(bool).reshape(-1)))
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata={"format": FORMAT, "shapes": json.dumps(shapes)})
    partial.replace(path)  # a reader never sees half a file
    return path


def load_mask(path: Path) -> dict[str, np.ndarray]:
    """{parameter name: bool array} from a mask file; ModelError if it is not one."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            meta = handle.metadata() or {}
            packed = {name: handle.get_tensor(name) for name in handle.keys()}
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable mask file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path} is not a CAST mask file (format {meta.get('format')!r})")
    shapes = json.loads(meta["shapes"])
    found = {}
    for name, bits in packed.items():
        shape = shapes[name]
        count = int(np.prod(shape)) if shape else 1
        found[name] = np.unpackbits(bits, count=count).astype(bool).reshape(shape)
    return found


def mask_atlas(masks: Mapping[str, np.ndarray]) -> dict[str, dict[str, list[int]]]:
    """{'layers': {layer: [kept, total]}, 'kinds': {kind: [kept, total]}} in model order / KINDS order."""
    from .stats import layer_of

    layers: dict[str, list[int]] = {}
    kinds: dict[str, list[int]] = {}
    for name, mask in masks.items():
        kept, total = int(np.count_nonzero(mask)), int(mask.size)
        for table, key in ((layers, layer_of(name)), (kinds, kind_of(name))):
            entry = table.setdefault(key, [0, 0])
            entry[0] += kept
            entry[1] += total
    ordered_kinds = {kind: kinds[kind] for kind in KINDS if kind in kinds}
    return {"layers": layers, "kinds": ordered_kinds}


def mask_jaccard(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    """|A ∩ B| / |A ∪ B| of two masks; a tensor one mask does not cover counts as not kept there
    (CAST and LT-SFT may differ in what is eligible). ModelError if a tensor's shape differs."""
    both = either = 0
    for name in set(a) | set(b):
        if name in a and name in b:
            if a[name].shape != b[name].shape:
                raise ModelError(f"parameter {name!r} has shape {list(a[name].shape)} in one mask and "
                                 f"{list(b[name].shape)} in the other: masks of different models")
            both += int(np.count_nonzero(a[name] & b[name]))
            either += int(np.count_nonzero(a[name] | b[name]))
        else:
            either += int(np.count_nonzero(a.get(name, b.get(name))))
    return both / either if either else 1.0


def run_mask(store, run_id: int) -> dict[str, np.ndarray]:
    """The final mask of a stored run; StoreError naming why it has none."""
    from ..errors import StoreError

    run = store.get_run(run_id)
    folder = run.get("artifact_dir")
    path = Path(folder) / MASK_FILE if folder else None
    if path is None or not path.is_file():
        raise StoreError(f"run {run_id} ({run['method']}, {run['status']}) has no saved mask: only CAST and LT-SFT "
                         "runs that completed keep their final mask")
    return load_mask(path)
