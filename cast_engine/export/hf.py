"""Exporting a run: a Hugging Face folder or a sparse delta."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from ..errors import ConfigError, StoreError
from .delta import load_trained, method_class, read_delta

FORMATS = ("hf", "delta", "mask")


def run_artifact(store, run_id: int) -> Path:
    """The saved delta of a run; StoreError if the run has none."""
    from ..store.stamps import owner_problem

    run = store.get_run(run_id)
    path = store.artifact_dir(run_id, create=False) / "delta.safetensors"
    if not path.exists():
        raise StoreError(f"run {run_id} ({run['status']}) has no saved model: only completed runs save one")
    _, meta = read_delta(path)
    problem = owner_problem(meta, store.store_id, run_id, f"the saved model {path}")
    if problem:
        raise StoreError(problem)
    return path


def export_run(store, run_id: int, fmt: str, out: str | Path) -> Path:
    """Write run ``run_id`` to ``out`` as a Hugging Face folder ('hf'), a delta ('delta') or its final mask ('mask').

    An existing non-empty folder is never overwritten. The files are written into a
    hidden folder beside ``out`` that is renamed to ``out`` only when complete, so an
    export that fails (disk full, no permission, a model that cannot be loaded) leaves
    no half-written folder.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format = {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "mask":
        return _export_mask(store, run_id, out)
    source = run_artifact(store, run_id)
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out} already exists and is not an empty folder; choose another")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = out.parent / f".{out.name}.{uuid.uuid4().hex}.partial"  # os.mkdir keeps the user's umask
        staging.mkdir()
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    try:
        _write_export(source, run_id, fmt, staging)
        os.replace(staging, out)  # an empty folder at ``out`` is replaced; a non-empty one was refused above
    except OSError as exc:
        raise ConfigError(f"--out {out}: the export could not be written ({exc.strerror or exc}); nothing was left there") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_export(source: Path, run_id: int, fmt: str, out: Path) -> None:
    """The export's files, written into the (empty) folder ``out``."""
    if fmt == "delta":
        _, meta = read_delta(source)
        shutil.copyfile(source, out / "delta.safetensors")
        (out / "cast_export.json").write_text(json.dumps({"run_id": run_id, "format": "delta", **_public(meta)}, indent=2))
        return
    model, tokenizer, meta = load_trained(source)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    note = {"run_id": run_id, "format": "hf", **_public(meta)}
    note.update(method_class(meta["method"]).save_extra_files(model, out, meta["extra"]))
    (out / "cast_export.json").write_text(json.dumps(note, indent=2))


def _export_mask(store, run_id: int, out: str | Path) -> Path:
    """The run's final mask as safetensors of bool tensors (one per parameter), with its atlas in JSON."""
    import torch
    from safetensors.torch import save_file

    from ..sparse.mask_file import mask_atlas, run_mask

    masks = run_mask(store, run_id)
    out = _empty_folder(out)
    save_file({name: torch.from_numpy(mask) for name, mask in masks.items()}, str(out / "mask.safetensors"),
              metadata={"run_id": str(run_id), "format": "mask"})
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(int(m.size) for m in masks.values())
    note = {"run_id": run_id, "format": "mask", "kept": kept, "eligible": total, **mask_atlas(masks)}
    (out / "cast_export.json").write_text(json.dumps(note, indent=2))
    return out


def _empty_folder(out: str | Path) -> Path:
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out} already exists and is not an empty folder; choose another")
    out.mkdir(parents=True, exist_ok=True)
    return out


def load_exported(folder: str | Path):
    """(model, tokenizer) from an exported folder, adapters included."""
    import transformers

    folder = Path(folder)
    if (folder / "delta.safetensors").exists():
        model, tokenizer, _ = load_trained(folder / "delta.safetensors")
        return model, tokenizer
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=False)
    note = folder / "cast_export.json"
    if note.exists():  # a folder this project exported: the method reads what it saved beside the weights
        model = method_class(json.loads(note.read_text())["method"]).load_extra_files(model, folder)
    return model.eval(), transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=False)


def _public(meta: dict) -> dict:
    return {"base_model": meta["base_model"], "labels": meta["labels"], "method": meta["method"]}
