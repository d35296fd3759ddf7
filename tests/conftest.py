"""Shared fixtures: the project root on sys.path, caches kept out of the user's home,
the real CAD data folder, and a helper that writes small table files."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # pytest's default import mode only adds tests/
    sys.path.insert(0, str(REPO_ROOT))

# ../shared/data/cad beside the repository, or the folder $CAST_TEST_CAD_DIR names
CAD_DIR = Path(os.environ.get("CAST_TEST_CAD_DIR") or Path(__file__).parents[1] / ".." / "shared" / "data" / "cad").resolve()


def pytest_configure(config):
    config.addinivalue_line("markers", "soak: long-running concurrency soak (tests/test_concurrency.py, ~45 s)")


@pytest.fixture(autouse=True, scope="session")
def _caches_out_of_home(tmp_path_factory):
    """Point the Hugging Face datasets cache and the CAST cache at a temporary folder."""
    root = tmp_path_factory.mktemp("caches")
    names = {"HF_DATASETS_CACHE": root / "hf-datasets", "CAST_CACHE_DIR": root / "cast"}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(path) for name, path in names.items()})
    if "datasets" in sys.modules:  # already imported: its config read the old values
        import datasets.config

        datasets.config.HF_DATASETS_CACHE = names["HF_DATASETS_CACHE"]
        datasets.config.DOWNLOADED_DATASETS_PATH = names["HF_DATASETS_CACHE"] / "downloads"
        datasets.config.EXTRACTED_DATASETS_PATH = names["HF_DATASETS_CACHE"] / "downloads" / "extracted"
    yield root
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def cad_dir() -> Path:
    """The real Kaushik et al. CAD folder (../shared/data/cad); skips when absent."""
    if not (CAD_DIR / "NLI").is_dir() or not (CAD_DIR / "sentiment").is_dir():
        pytest.skip(f"real CAD data not found at {CAD_DIR} (the shared data folder is absent)")
    return CAD_DIR


def write_rows(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    """Write rows as CSV/TSV (by extension), JSON lines (.jsonl), a JSON array (.json) or Parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = columns or (list(rows[0]) if rows else [])
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="," if suffix == ".csv" else "\t", lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([[row.get(c, "") for c in columns] for row in rows])
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif suffix == ".parquet":
        import pandas as pd

        pd.DataFrame(rows, columns=columns).to_parquet(path)
    else:
        raise ValueError(f"write_rows: unsupported extension {suffix!r}")
    return path


@pytest.fixture
def table_writer(tmp_path):
    """``table_writer(name, rows, columns=None)`` writes a table file under tmp_path and returns its path."""

    def write(name: str, rows: list[dict], columns: list[str] | None = None) -> Path:
        return write_rows(tmp_path / name, rows, columns)

    return write
from engine_fixtures import *  # noqa: E402,F401,F403  (tiny model, isolated store, configs)
