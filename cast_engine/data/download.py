"""Fetch the upstream Kaushik et al. CAD files into a local cache folder (copying, never moving, local ones)."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname
from typing import Callable, Iterable

from cast_engine.data.types import SPLITS
from cast_engine.errors import DataError, RunCancelled

# The files are fetched from one fixed commit of the upstream repository (never a branch,
# which can move) and checked against the sums below, taken of the files at that commit.
UPSTREAM_COMMIT = "6f232a1d2a11462a30ce08fb4825b734ab30828e"
UPSTREAM_BASE_URL = f"https://raw.githubusercontent.com/acmi-lab/counterfactually-augmented-data/{UPSTREAM_COMMIT}/"
UPSTREAM_SHA256 = {
    "sentiment/combined/paired/train_paired.tsv": "7ac50ca3d70890f80e11ee59955cdbfc43f26b5078d0603717817ab224d2af18",
    "sentiment/combined/paired/dev_paired.tsv": "4c2d8a70cbce23eba27fb1f0bb5043cf044811912435cf8d10c3ea6fc7a51363",
    "sentiment/combined/paired/test_paired.tsv": "9534b20850205c59015b313983cae7afb31c54c04ffcbd19cea7f1bce5011275",
    "NLI/original/train.tsv": "016b1657b1c0eb89e163aa194e5e2da6ca890fd6e97ee42c33de914e7e0a7ce6",
    "NLI/original/dev.tsv": "27ef042f87b7181c79609b56734caed8fb9c09ba2627d0fe876f7248141fdff7",
    "NLI/original/test.tsv": "07154b31ea7cf1bb0ac33e37bec143b928edbf2c964a73988973e5c0fe039b07",
    "NLI/revised_premise/train.tsv": "8d5875ce955c7f0f6a6e631c19feb2ca2cfdeb73042c8f507debcf0eb4e5947d",
    "NLI/revised_premise/dev.tsv": "71574ca354961e571c6d7008cbe1eabcc1c1e955a926db6d11a1cb9657cf5033",
    "NLI/revised_premise/test.tsv": "808f4689dcfe71da62bc9395260fe45dd6f3771f0d867783dff913cb8d2fe7aa",
    "NLI/revised_hypothesis/train.tsv": "f2ce2d504263308d316b8c7cc17a101291f2aba11fcd55cf402299172508821b",
    "NLI/revised_hypothesis/dev.tsv": "9111cba776aa125900e8c2bae73db86540398d735cfcf7f9f15d49bb5ec20d31",
    "NLI/revised_hypothesis/test.tsv": "eff28a3c8c4a99150a81b36ad1c4840a9ea91ad0f488e514b1c143d12a4032b5",
}
URL_ENV = "CAST_CAD_URL"
CACHE_ENV = "CAST_CACHE_DIR"
NLI_FOLDERS = ("original", "revised_premise", "revised_hypothesis")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_CHUNK = 1 << 20
_TIMEOUT_S = 60


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
    """Fetch the CAD files the loaders need (skipping those already there and intact); return the folder root.

    ``base_url`` defaults to the pinned upstream commit, or to ``$CAST_CAD_URL`` when set:
    an https URL (plain http only to this machine's loopback address), or a local folder
    or ``file://`` URL whose files are copied (never moved). Every file is checked against
    the known sha256 of the Kaushik et al. file; a mismatch raises DataError naming it.
    ``progress(i, n, name)`` is called after each file (i = files done); ``should_stop()``
    is checked before each file and raises RunCancelled. Network errors raise DataError
    naming the URL.
    """
    if base_url == UPSTREAM_BASE_URL:
        base_url = os.environ.get(URL_ENV) or base_url
    source = _source(base_url)
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
        if not (target.is_file() and file_sha256(target) == UPSTREAM_SHA256[name]):
            _fetch(source, name, target)
        if progress is not None:
            progress(done + 1, len(names), name)
    return root


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source(base_url: str) -> str | Path:
    """A local folder (Path) or a checked URL ending in '/' for ``base_url``; DataError otherwise."""
    parsed = urlparse(base_url)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and os.name == "nt"):
        folder = Path(url2pathname(parsed.path) if parsed.scheme == "file" else base_url).expanduser()
        if not folder.is_dir():
            raise DataError("the download source is not a folder", folder)
        return folder
    if parsed.scheme == "http" and parsed.hostname in _LOOPBACK:
        pass  # a server on this machine: nothing travels over a network
    elif parsed.scheme != "https":
        raise DataError(f"only https URLs are accepted (plain http only to 127.0.0.1), got {parsed.scheme}://", base_url)
    return base_url if base_url.endswith("/") else base_url + "/"


def _fetch(source: str | Path, name: str, target: Path) -> None:
    """Copy or download one file into a partial file of its own, check its sha256, then move that into place."""
    where = str(source / name) if isinstance(source, Path) else source + name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # A partial file of this call's own: two downloads at once (CLI and studio) never share one.
        handle, partial = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise DataError(f"cannot store the downloaded file: {exc.strerror or exc}", target) from exc
    partial = Path(partial)
    try:
        with os.fdopen(handle, "wb") as out:
            digest = _copy_into(out, source, name, where)
        expected = UPSTREAM_SHA256[name]
        if digest != expected:
            raise DataError(f"{name} is not the Kaushik et al. file: its sha256 is {digest}, expected {expected}", where)
        os.replace(partial, target)
    except OSError as exc:
        raise DataError(f"cannot store the downloaded file: {exc.strerror or exc}", target) from exc
    finally:
        partial.unlink(missing_ok=True)


def _copy_into(out, source: str | Path, name: str, where: str) -> str:
    """Write the file ``name`` of ``source`` to the open file ``out``; return its sha256."""
    digest = hashlib.sha256()
    try:
        if isinstance(source, Path):
            stream = open(source / name, "rb")  # read only: the user's folder stays as it was
        else:
            stream = urllib.request.urlopen(where, timeout=_TIMEOUT_S)  # noqa: S310 (scheme checked in _source)
    except urllib.error.HTTPError as exc:
        raise DataError(f"download failed: the server answered {exc.code} {exc.reason}", where) from exc
    except urllib.error.URLError as exc:
        raise DataError(f"download failed: the server cannot be reached ({exc.reason})", where) from exc
    except OSError as exc:
        raise DataError(f"download failed: {exc.strerror or exc}", where) from exc
    with stream:
        try:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        except (OSError, http.client.HTTPException) as exc:
            raise DataError(f"download failed while reading: {exc}", where) from exc
    return digest.hexdigest()
