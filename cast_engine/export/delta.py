"""Sparse deltas: a trained model as the entries that differ from its base model.

File format (safetensors): for a tensor that changed in few entries,
``<name>::indices`` (int64 flat indices) and ``<name>::values``; for a tensor
stored whole (the new head, tensors the base lacks, tensors that changed
mostly), ``<name>::dense``. Metadata: format, version, base_model, labels,
method (JSON) and method-specific extras (JSON). Applying the delta to the
base model gives the trained model's weights exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import ModelError

FORMAT = "cast-delta"
VERSION = "1"


@torch.no_grad()
def save_delta(model, path: Path, *, base_model: str, labels: list[str], method: dict, extra: dict | None = None,
               base: dict | None = None, owner: tuple[str, int] | None = None) -> Path:
    """Write ``model`` as a delta against a fresh load of ``base_model``.

    ``base`` is the base model's identity (models.identity): where it lives, its revision
    and a hash of its weights, so that the delta is applied to the same weights later.
    ``owner`` is (store id, run id): the run whose model this is.
    """
    from safetensors.torch import save_file

    from ..models import load_classifier

    reference, _ = load_classifier(base_model, labels)
    base_state = reference.state_dict()
    new = set(getattr(reference, "cast_new_tensors", []))
    tensors: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        value = value.detach().cpu()
        ref = base_state.get(name)
        if ref is None or name in new or ref.shape != value.shape:
            tensors[f"{name}::dense"] = value.contiguous()
            continue
        changed = torch.nonzero((value != ref).reshape(-1), as_tuple=False).flatten()
        if changed.numel() == 0:
            continue
        if changed.numel() * 3 > value.numel():  # index + value cost ~3× a dense entry
            tensors[f"{name}::dense"] = value.contiguous()
        else:
            tensors[f"{name}::indices"] = changed
            tensors[f"{name}::values"] = value.reshape(-1)[changed].contiguous()
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "base_model": base_model,
        "labels": json.dumps(labels),
        "method": json.dumps(method),
        "extra": json.dumps(extra or {}),
        "base": json.dumps(base or {}),
    }
    if owner is not None and owner[0]:
        meta.update(store_id=str(owner[0]), run_id=str(int(owner[1])))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)
    return path


def read_delta(path: Path) -> tuple[dict, dict]:
    """(tensors, metadata) of a delta file; ModelError if it is not one."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable delta file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path} is not a CAST delta (format {meta.get('format')!r})")
    meta = {**meta, "labels": json.loads(meta["labels"]), "method": json.loads(meta["method"]), "extra": json.loads(meta.get("extra", "{}")),
            "base": json.loads(meta.get("base", "{}"))}
    return tensors, meta


def read_delta_metadata(path: Path) -> dict:
    """The metadata of a delta file (labels, base model, method) without reading its tensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable delta file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path} is not a CAST delta (format {meta.get('format')!r})")
    return {**meta, "labels": json.loads(meta["labels"]), "method": json.loads(meta["method"]),
            "extra": json.loads(meta.get("extra", "{}"))}


@torch.no_grad()
def apply_delta(model, tensors: dict) -> None:
    """Write a delta's entries into ``model`` (in place)."""
    state = model.state_dict()
    for key, value in tensors.items():
        name, kind = key.rsplit("::", 1)
        if name not in state:
            raise ModelError(f"the delta changes {name!r}, which this model does not have")
        target = state[name]
        if kind == "dense":
            target.copy_(value)
        elif kind == "indices":
            target.view(-1)[value] = tensors[f"{name}::values"].to(target.dtype)


def method_class(method: dict):
    """The ``Method`` subclass that trained a saved model (``method``: its config as saved)."""
    from ..methods.registry import get_method

    return get_method(method.get("name", "full")).implementation_class()


def load_trained(path: Path):
    """(model, tokenizer, metadata): the base model with the delta applied.

    The base is loaded from where the delta recorded it (an absolute folder, or a Hub id at
    its resolved revision); ModelError when the weights found there are not the ones the
    delta was made against.
    """
    from ..models import load_classifier
    from ..models.identity import base_model_difference, base_model_identity

    tensors, meta = read_delta(Path(path))
    recorded = meta["base"]
    spec, revision = meta["base_model"], None
    if recorded.get("path") and Path(recorded["path"]).is_dir():
        spec = recorded["path"]
    elif recorded.get("hub_id"):
        spec, revision = recorded["hub_id"], recorded.get("revision")
    model, tokenizer = load_classifier(spec, meta["labels"], revision=revision)
    difference = base_model_difference(recorded, base_model_identity(spec, model))
    if difference:
        raise ModelError(f"{path} was made against another base model: {difference}; "
                         "applying it to these weights would not give the trained model")
    model = method_class(meta["method"]).rebuild(model, meta["extra"])
    apply_delta(model, tensors)
    model.eval()
    return model, tokenizer, meta
