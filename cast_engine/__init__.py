"""CAST Studio's engine: data, models, methods, training, evaluation, run store.

Three lines from a notebook::

    import cast_engine as ce
    result = ce.run(ce.RunConfig(data=ce.DataConfig(task="nli", variant="RH1"), method=ce.CastConfig(alpha=0.05, k="1%")))
    print(result.test["combined"])

and a sweep: ``ce.run_sweep(ce.SweepSpec(config.to_dict(), [{"alpha": [0.01, 0.1], "seed": [1, 2]}]))``.

Heavy modules (torch, transformers) load on first use, so importing this
package is quick and never imports Qt.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "RunConfig": "cast_engine.config",
    "DataConfig": "cast_engine.config",
    "TrainConfig": "cast_engine.config",
    "run": "cast_engine.runs.runner",
    "RunResult": "cast_engine.runs.runner",
    "CancelToken": "cast_engine.train.events",
    "RunStore": "cast_engine.store",
    "load_cad": "cast_engine.data",
    "dataset_stats": "cast_engine.data",
    "export_run": "cast_engine.export",
    "load_exported": "cast_engine.export",
    "SweepSpec": "cast_engine.experiments",
    "run_sweep": "cast_engine.experiments",
    "compare_runs": "cast_engine.evaluate.significance",
    "CastError": "cast_engine.errors",
    "ConfigError": "cast_engine.errors",
    "DataError": "cast_engine.errors",
    "ModelError": "cast_engine.errors",
    "StoreError": "cast_engine.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name.endswith("Config"):  # a method's config (CastConfig, LoraConfig…), found in the registry
        from .methods.registry import get_method, method_names

        for method in method_names():
            if get_method(method).config_cls.__name__ == name:
                return get_method(method).config_cls
    raise AttributeError(f"module 'cast_engine' has no attribute {name!r}")
