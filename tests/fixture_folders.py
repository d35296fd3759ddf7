"""Tiny hand-written folders in the Kaushik et al. layout (invented sentences, not the real
data), kept as one JSON file each ({path inside the folder: file text}) and written out to a
temporary folder the first time a test asks for one: the real CAD files are never copied
into the project, and no data-shaped files are either."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


@functools.cache
def fixture_folder(name: str) -> Path:
    """The folder ``tests/fixtures/<name>.json`` describes, written out once per test process."""
    files = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    parent = Path(tempfile.mkdtemp(prefix=f"cast-fixture-{name}-"))
    atexit.register(shutil.rmtree, parent, True)
    root = parent / name
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
