"""A run's files name their owner: the store identity and run id in a saved model's metadata.

A sweep's trial saves its model away from the store (in a worker, before it has
a run id); when the store records the trial it writes the owner into the file's
safetensors metadata. The safetensors header is 8 bytes of length and a JSON
object, so this rewrites the JSON only, never the tensors (no torch needed here).
"""

from __future__ import annotations

import json
import struct

OWNER_KEYS = ("store_id", "run_id")


def stamp_owner(name: str, data: bytes, store_id: str, run_id: int) -> bytes:
    """``data`` of the file ``name`` with ``store_id`` and ``run_id`` in its metadata (safetensors
    files only; other files come back as they were)."""
    if not name.endswith(".safetensors") or len(data) < 8:
        return data
    (length,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + length])
    except ValueError:
        return data  # not a safetensors file after all: reading it later says so
    if not isinstance(header, dict):
        return data
    header.setdefault("__metadata__", {}).update({"store_id": str(store_id), "run_id": str(int(run_id))})
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)  # keep the tensors 8-byte aligned, as safetensors writes them
    return struct.pack("<Q", len(text)) + text + data[8 + length:]


def owner_problem(meta: dict, store_id: str | None, run_id: int, what: str) -> str | None:
    """Why a file whose metadata is ``meta`` is not run ``run_id``'s of store ``store_id``; None when it is."""
    found = (meta.get("store_id"), meta.get("run_id"))
    if found == (None, None):
        return f"{what} records no owner (made by an older version): it cannot be matched to run {run_id}"
    if found != (str(store_id), str(int(run_id))):
        return (f"{what} belongs to run {found[1]} of store {found[0]}, not to run {run_id} of this store "
                f"({store_id}): refused")
    return None
