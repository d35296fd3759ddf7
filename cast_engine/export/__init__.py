"""Exporting trained runs: Hugging Face folders and sparse deltas."""

from .hf import FORMATS, export_run, load_exported

__all__ = ["FORMATS", "export_run", "load_exported"]
