"""Exporting a run: a Hugging Face folder or a sparse delta."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import ConfigError, StoreError
from .delta import load_trained, method_class, read_delta

FORMATS = ("hf", "delta", "mask")


def run_artifact(store, run_id: int) -> Path:
    """The saved delta of a run; StoreError if the run has none."""
    run = store.get_run(run_id)
    path = store.artifact_dir(run_id) / "delta.safetensors"
    if not path.exists():
        raise StoreError(f"run {run_id} ({run['status']}) has no saved model: only completed runs save one")
    return path


def export_run(store, run_id: int, fmt: str, out: str | Path) -> Path:
    """Write run ``run_id`` to ``out`` as a Hugging Face folder ('hf'), a delta ('delta') or its final mask ('mask').

    An existing non-empty folder is never overwritten.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format = {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "mask":
        return _export_mask(store, run_id, out)
    source = run_artifact(store, run_id)
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out} already exists and is not an empty folder; choose another")
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "delta":
        _, meta = read_delta(source)
        shutil.copyfile(source, out / "delta.safetensors")
        (out / "cast_export.json").write_text(json.dumps({"run_id": run_id, "format": "delta", **_public(meta)}, indent=2))
        return out
    model, tokenizer, meta = load_trained(source)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    note = {"run_id": run_id, "format": "hf", **_public(meta)}
    note.update(method_class(meta["method"]).save_extra_files(model, out, meta["extra"]))
    (out / "cast_export.json").write_text(json.dumps(note, indent=2))
    return out


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
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder)
    note = folder / "cast_export.json"
    if note.exists():  # a folder this project exported: the method reads what it saved beside the weights
        model = method_class(json.loads(note.read_text())["method"]).load_extra_files(model, folder)
    return model.eval(), transformers.AutoTokenizer.from_pretrained(folder)


def _public(meta: dict) -> dict:
    return {"base_model": meta["base_model"], "labels": meta["labels"], "method": meta["method"]}
