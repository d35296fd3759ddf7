"""Parameter counts of a model without loading it (no torch): from the
safetensors header and config.json of a local folder or the packaged model.

The studio uses this to show K as a count and as a share live while the user
types, before anything heavy is imported.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Callable

from .loading import resolve_model_path


def parameter_shapes(spec: str) -> dict[str, list[int]] | None:
    """{tensor name: shape} of a local model's weights; None when not local or not safetensors."""
    try:
        folder = Path(resolve_model_path(spec))
    except Exception:
        return None
    if not folder.is_dir():
        return None
    shapes: dict[str, list[int]] = {}
    files = sorted(folder.glob("*.safetensors"))
    for file in files:
        with open(file, "rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(size))
        # float tensors only: integer buffers such as position_ids are not parameters
        shapes.update({k: v["shape"] for k, v in header.items() if k != "__metadata__" and v["dtype"].startswith(("F", "BF"))})
    return shapes or None


def eligible_parameter_count(spec: str, num_labels: int, counts: Callable[[str, bool], bool]) -> int | None:
    """Entries K is counted from for this model with a new classification head: the parameters
    for which ``counts(name, is_head)`` holds (a method config's ``counts_toward_k``)."""
    shapes = parameter_shapes(spec)
    if shapes is None:
        return None
    try:
        hidden = json.loads((Path(resolve_model_path(spec)) / "config.json").read_text())["hidden_size"]
    except (OSError, KeyError, ValueError):
        return None
    base = {k: v for k, v in shapes.items() if not k.startswith(("classifier.", "cls.", "score."))}
    head = {"classifier.weight": [num_labels, hidden], "classifier.bias": [num_labels]}  # the dropout + linear head
    return (sum(math.prod(v) for k, v in base.items() if counts(k, False))
            + sum(math.prod(v) for k, v in head.items() if counts(k, True)))
