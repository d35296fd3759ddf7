"""Exporting trained runs (Hugging Face folders, sparse deltas) and results tables.

Loaded lazily: the tables need no torch, the model exports do.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "FORMATS": "cast_engine.export.hf",
    "export_run": "cast_engine.export.hf",
    "load_exported": "cast_engine.export.hf",
    "results_table": "cast_engine.export.tables",
    "write_table": "cast_engine.export.tables",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cast_engine.export' has no attribute {name!r}")
