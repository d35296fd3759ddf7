"""CAD datasets: one front door (:func:`load_cad`), loaders, download and statistics.

Free of torch and of Hugging Face ``datasets``: files are read with the standard library (Parquet with pyarrow).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from cast_engine.data.download import UPSTREAM_BASE_URL, default_cache_dir, download_cad
from cast_engine.data.kaushik import is_kaushik_folder, load_kaushik
from cast_engine.data.reading import Table, check_regular_file, read_table
from cast_engine.data.stats import dataset_stats, format_stats
from cast_engine.data.types import (
    DEFAULT_VARIANTS,
    NLI_LABELS,
    NLI_VARIANTS,
    SENTIMENT_LABELS,
    SENTIMENT_VARIANTS,
    TASKS,
    CadDataset,
    CadSplit,
    Example,
    normalize_task,
)
from cast_engine.data.userfile import is_user_folder, load_aligned_files, load_user_file, load_user_folder
from cast_engine.errors import ConfigError, DataError

DEMO_DIR = Path(__file__).parent / "demo"

__all__ = [
    "load_cad",
    "demo_file",
    "dataset_stats",
    "format_stats",
    "download_cad",
    "default_cache_dir",
    "UPSTREAM_BASE_URL",
    "load_kaushik",
    "load_user_file",
    "load_user_folder",
    "load_aligned_files",
    "read_table",
    "Table",
    "Example",
    "CadSplit",
    "CadDataset",
    "TASKS",
    "SENTIMENT_LABELS",
    "NLI_LABELS",
    "SENTIMENT_VARIANTS",
    "NLI_VARIANTS",
    "DEFAULT_VARIANTS",
]


def demo_file(task: str) -> Path:
    """The bundled demo data file of a task (user-file format, JSON lines)."""
    return DEMO_DIR / f"{normalize_task(task)}.jsonl"


def load_cad(
    source: str | Path | None,
    task: str,
    variant: str | None = None,
    *,
    text_columns: str | Sequence[str] | None = None,
    label_column: str | None = None,
    pair_column: str | None = None,
    revision_file: str | Path | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> CadDataset:
    """Load a CAD dataset variant from wherever ``source`` points.

    ``source``: None or "demo" (bundled demo data), "upstream" (download the
    Kaushik et al. files, then load them), a folder with ``sentiment/`` or
    ``NLI/`` (Kaushik layout), a folder with train/dev/test files, or one paired
    file (with ``revision_file``: two aligned files). ``variant`` defaults to CAD
    for sentiment and RH1 for NLI (ALL for NLI user data without RP/RH roles).
    """
    task = normalize_task(task)
    columns = {"text_columns": text_columns, "label_column": label_column}
    if isinstance(source, str) and not source.strip():
        raise ConfigError("data = '': give a dataset: 'demo', 'upstream', a folder or a file")
    keyword = source is None or (isinstance(source, str) and source.strip().lower() in ("demo", "upstream"))
    if keyword and revision_file:
        raise ConfigError(f"revision_file needs a single originals file as source, got {source or 'demo'!r}; "
                          "give the file of originals as the data")
    if source is None or (isinstance(source, str) and source.strip().lower() == "demo"):
        path = demo_file(task)
        if not path.is_file():
            raise DataError("the bundled demo data is missing", path)
        dataset = load_user_file(path, task, variant, seed=seed, **columns, pair_column=pair_column)
        dataset.source = f"demo data ({path.name})"
        return dataset
    if isinstance(source, str) and source.strip().lower() == "upstream":
        root = download_cad(Path(cache_dir) if cache_dir is not None else None, tasks=(task,))
        return load_kaushik(root, task, variant)
    path = Path(source).expanduser()
    try:
        exists = path.exists()
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror or exc}", path) from exc
    if not exists:
        if path.is_symlink():
            check_regular_file(path)  # says what is wrong with the link: a loop, or a link to nothing
        raise DataError("no such file or folder", path)
    if path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):
            raise DataError("cannot read the folder: permission denied", path)
        if revision_file is not None:
            raise ConfigError(f"revision_file needs a single originals file as source, got the folder {path}")
        if path.name in ("sentiment", "NLI") and not is_kaushik_folder(path):
            path = path.parent  # the task folder itself was given
        if is_kaushik_folder(path):
            return load_kaushik(path, task, variant)
        if is_user_folder(path):
            return load_user_folder(path, task, variant, **columns, pair_column=pair_column)
        raise DataError(
            "not a CAD folder: expected a sentiment/ or NLI/ subfolder (Kaushik layout) "
            "or train/dev/test table files",
            path,
        )
    if revision_file is not None:
        return load_aligned_files(path, revision_file, task, variant, seed=seed, **columns)
    return load_user_file(path, task, variant, seed=seed, **columns, pair_column=pair_column)
