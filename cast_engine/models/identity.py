"""Which base model a run started from, exactly: where it lives, its revision, a hash of its weights.

A model spec ('minilm', a folder, a Hub id) can mean different weights on
different days: a folder is edited, a Hub repository gets a new commit. A run
records its base as an absolute folder or a Hub id with the commit that was
resolved, plus a sha256 over the weight files, so that resuming it or exporting
it against other weights is noticed and named.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin")
_CHUNK = 1 << 20


def base_model_identity(spec: str, model) -> dict:
    """{'spec', 'path' | 'hub_id' + 'revision', 'weights_sha256'} of the base ``model`` loaded for ``spec``."""
    from .loading import resolve_model_path

    resolved = resolve_model_path(spec)
    if Path(resolved).is_dir():
        folder = Path(resolved).resolve()
        return {"spec": spec, "path": str(folder), "weights_sha256": weights_sha256(folder)}
    revision = getattr(model.config, "_commit_hash", None)
    identity = {"spec": spec, "hub_id": resolved, "revision": revision, "weights_sha256": None}
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(resolved, revision=revision, local_files_only=True))
        identity["weights_sha256"] = weights_sha256(folder)
    except Exception:  # noqa: BLE001 (a cache laid out otherwise: the revision alone identifies the weights)
        pass
    return identity


def weights_sha256(folder: Path) -> str | None:
    """sha256 over the weight files of a model folder (names and contents, in name order); None if it has none."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
    return digest.hexdigest()


def base_model_difference(recorded: dict | None, now: dict) -> str | None:
    """How the base model ``now`` differs from the one ``recorded``, in words; None when it is the same.

    A record without an identity (a run made before they were kept) is not compared.
    """
    if not recorded:
        return None
    where_then = recorded.get("path") or f"{recorded.get('hub_id')}@{recorded.get('revision')}"
    where_now = now.get("path") or f"{now.get('hub_id')}@{now.get('revision')}"
    then, current = recorded.get("weights_sha256"), now.get("weights_sha256")
    if then and current:  # the weights decide; a folder that moved with the same weights is the same base
        if then == current:
            return None
        return (f"the base model's weights differ: {where_then} had sha256 {then[:12]}…, "
                f"{where_now} has {current[:12]}…")
    if where_then != where_now:
        return f"the base model was {where_then}, now it is {where_now}"
    return None
