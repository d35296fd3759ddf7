"""Sequence classifiers: the packaged MiniLM by default, any Hub id or folder."""

from .loading import PACKAGED_MODEL, count_parameters, load_classifier, resolve_model_path

__all__ = ["PACKAGED_MODEL", "count_parameters", "load_classifier", "resolve_model_path"]
