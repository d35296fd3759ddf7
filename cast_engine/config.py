"""Run configuration: a run's data, training and method settings, and its fingerprint.

The settings themselves (fields with help text and limits) are in
``cast_engine.settings``; a run's method is looked up in the method registry.
This module imports neither torch nor Qt.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .methods.registry import get_method
from .settings import (  # noqa: F401  (the settings are part of a run's config)
    LR_METHOD_DEFAULT,
    LR_SET_BY_USER,
    DataConfig,
    MethodConfig,
    TrainConfig,
    check_value,
    coerce,
    field_help,
    from_dict,
    param,
    validate_fields,
)


#: Config keys that do not change what a run measures (where and how verbosely it ran).
NON_SCIENTIFIC_KEYS = ("name", "train.device", "train.log_every", "train.eval_batch_size", "train.checkpoint")


def config_fingerprint(config: dict) -> str:
    """A short hash of what a run measures: its config without NON_SCIENTIFIC_KEYS.

    Two runs with the same fingerprint trained the same model on the same data
    with the same seed; a sweep uses it to find trials the store already has.
    Stored sweeps key their trials by it: changing what it hashes orphans their
    keys, so such a change needs a store migration that recomputes them.
    """
    import hashlib
    import json

    flat = flatten_config(config)
    if not flat.get("data.variant"):  # empty means the task's default variant: the same data
        flat["data.variant"] = DataConfig(task=flat.get("data.task", "sentiment")).resolved_variant()
    if not flat.get("train.lr") and flat.get("method.name"):  # 0: the method's recommended rate, the same training
        flat["train.lr"] = get_method(flat["method.name"]).config_cls.recommended_lr
    kept = {key: value for key, value in flat.items() if key not in NON_SCIENTIFIC_KEYS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:20]


def flatten_config(config: dict | None, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict with dotted keys: {'train': {'lr': 1}} → {'train.lr': 1}."""
    flat: dict[str, Any] = {}
    for key, value in (config or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_config(value, name + "."))
        else:
            flat[name] = value
    return flat


def _check_task(value: str) -> None:
    from .data.types import TASKS

    if value not in TASKS:
        raise ConfigError(f"task = {value!r} is not one of {', '.join(TASKS)}")


@dataclass
class RunConfig:
    """Everything one run needs: data, model, method and training settings."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: MethodConfig | None = None
    model: str = param("minilm", "Model: 'minilm' (the packaged all-MiniLM-L6-v2), a Hugging Face model id or a local folder.")
    regime: str = param("cad", "Training data of baselines: nocad (originals only) or cad (originals and revisions, shuffled together). CAST always uses both.", choices=("nocad", "cad"))
    name: str = param("", "A name for the run in the history.")

    def __post_init__(self) -> None:
        if self.method is None:
            self.method = get_method("full").config_cls()

    def resolved_lr(self) -> tuple[float, str]:
        """The learning rate this run trains with and why: ('user') the one set, or
        ('method default') the method's recommended one when train.lr is 0."""
        if self.train.lr > 0:
            return self.train.lr, LR_SET_BY_USER
        return type(self.method).recommended_lr, LR_METHOD_DEFAULT

    def validate(self) -> None:
        """Check every field; raises ConfigError naming the first bad value."""
        validate_fields(self)
        validate_fields(self.data, "data")
        validate_fields(self.train, "train")
        validate_fields(self.method, self.method.name)
        _check_task(self.data.task)
        if self.method.uses_both_branches and self.data.resolved_variant() == "RAW":
            raise ConfigError(f"method {self.method.name} needs counterfactuals, but variant is RAW (originals only)")

    def default_name(self) -> str:
        """The name a run gets when none is given, telling configs apart:
        'cast-a0.05-k1e5-nli-RH1-seed1', 'full-sentiment-CAD-nocad-lr2e-05-n200-seed3'.

        Method tags (α, K…), then task and variant, the baselines' regime, the
        training settings and data limits that differ from the defaults, and the seed.
        """
        parts = [self.method.name, *self.method.name_tags(), self.data.task, self.data.resolved_variant()]
        if not self.method.uses_both_branches:
            parts.append(self.regime)
        defaults = TrainConfig()
        for key, tag in (("lr", "lr"), ("max_epochs", "ep"), ("batch_size", "bs")):
            value = getattr(self.train, key)
            if value != getattr(defaults, key):
                parts.append(f"{tag}{value:g}")
        if self.data.train_limit:
            parts.append(f"n{self.data.train_limit}")
        if self.data.eval_limit:
            parts.append(f"e{self.data.eval_limit}")
        if self.model != "minilm":
            parts.append(self.model.rstrip("/").rsplit("/", 1)[-1])
        parts.append(f"seed{self.train.seed}")
        return "-".join(str(p) for p in parts)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "regime": self.regime,
            "name": self.name,
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
            "method": self.method.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        """Rebuild a config saved with ``to_dict``; unknown keys warn, not fail."""
        method = dict(data.get("method") or {"name": "full"})
        method_cls = get_method(method.pop("name", "full")).config_cls
        top = {k: v for k, v in data.items() if k not in ("data", "train", "method")}
        config = from_dict(cls, top, "run")
        config.data = from_dict(DataConfig, data.get("data", {}), "data")
        config.train = from_dict(TrainConfig, data.get("train", {}), "train")
        config.method = from_dict(method_cls, method, method_cls.name)
        return config
