"""Fetch the upstream Kaushik et al. CAD files into a local cache folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterable

from cast_engine.data.types import SPLITS
from cast_engine.errors import DataError, RunCancelled

UPSTREAM_BASE_URL = "https://raw.githubusercontent.com/acmi-lab/counterfactually-augmented-data/master/"
URL_ENV = "CAST_CAD_URL"
CACHE_ENV = "CAST_CACHE_DIR"
NLI_FOLDERS = ("original", "revised_premise", "revised_hypothesis")
_DOWNLOADS = ".downloads"  # datasets' own download cache, inside the CAD cache folder


def upstream_files(tasks: Iterable[str] = ("sentiment", "nli")) -> list[str]:
    """The repository-relative paths the loaders need for ``tasks``."""
    from cast_engine.data.types import normalize_task

    files: list[str] = []
    for task in tasks:
        if normalize_task(task) == "sentiment":
            files += [f"sentiment/combined/paired/{split}_paired.tsv" for split in SPLITS]
        else:
            files += [f"NLI/{folder}/{split}.tsv" for folder in NLI_FOLDERS for split in SPLITS]
    return files


def default_cache_dir() -> Path:
    """``$CAST_CACHE_DIR/cad``, else ``user_cache_dir("cast-studio")/cad``."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        from platformdirs import user_cache_dir

        root = user_cache_dir("cast-studio")
    return Path(root) / "cad"


def download_cad(
    cache_dir: Path | None = None,
    base_url: str = UPSTREAM_BASE_URL,
    *,
    tasks: Iterable[str] = ("sentiment", "nli"),
    progress: Callable[[int, int, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Download the CAD files the loaders need (skipping those already there); return the folder root.

    ``base_url`` defaults to the upstream repository, or to ``$CAST_CAD_URL`` when set.
    ``progress(i, n, name)`` is called after each file (i = files done); ``should_stop()``
    is checked before each file and raises RunCancelled. Network errors raise DataError
    naming the URL.
    """
    if base_url == UPSTREAM_BASE_URL:
        base_url = os.environ.get(URL_ENV) or base_url
    if not base_url.endswith("/"):
        base_url += "/"
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    names = upstream_files(tasks)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache folder: {exc.strerror or exc}", root) from exc
    for done, name in enumerate(names):
        if should_stop is not None and should_stop():
            raise RunCancelled(f"download cancelled after {done} of {len(names)} files")
        target = root / name
        if not target.is_file():
            _fetch(base_url + name, target, root / _DOWNLOADS)
        if progress is not None:
            progress(done + 1, len(names), name)
    return root


def _fetch(url: str, target: Path, download_dir: Path) -> None:
    """Download one URL with datasets' machinery and move it into place."""
    import datasets
    from datasets.utils.file_utils import cached_path

    config = datasets.DownloadConfig(cache_dir=str(download_dir), use_etag=False, disable_tqdm=True, max_retries=1)
    try:
        downloaded = Path(cached_path(url, download_config=config))
    except Exception as exc:  # FileNotFoundError (404), ConnectionError, aiohttp/httpx errors, offline mode...
        reason = str(exc).strip() or type(exc).__name__
        if isinstance(exc, FileNotFoundError):
            reason = "no such file on the server, or the server cannot be reached"
        raise DataError(f"download failed: {reason}", url) from exc
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        shutil.move(str(downloaded), partial)
        os.replace(partial, target)
        for extra in (".json", ".lock"):
            Path(str(downloaded) + extra).unlink(missing_ok=True)
    except OSError as exc:
        raise DataError(f"cannot store the downloaded file: {exc.strerror or exc}", target) from exc
