"""A sweep's grid: a base config and axes of values over any config field.

A grid is ``{field: [values]}``; its trials are the product of the axes
applied to the base config. A spec may hold several grids (the paper's tables
are unions: baselines on every variant, CAST only where there are
counterfactuals); identical trials are kept once. A trial's key is the
fingerprint of its config, so a trial means the same thing in every sweep.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..config import DataConfig, RunConfig, TrainConfig, coerce, config_fingerprint
from ..errors import ConfigError

RUN_LEVEL = ("model", "regime")
MAX_TRIALS = 10_000  # a larger grid is refused before it is expanded (it is almost always a typo in a range)


@dataclass
class Trial:
    """One point of the grid: its key (config fingerprint), config and the axis values it took."""

    key: str
    config: RunConfig
    assignment: dict[str, Any]

    def label(self) -> str:
        """'method cast, alpha 0.05, seed 2': the values this trial took."""
        return ", ".join(f"{name.rsplit('.', 1)[-1]} {value}" for name, value in self.assignment.items())


@dataclass
class SweepSpec:
    """A base config (as ``RunConfig.to_dict()``) and one or more grids over its fields."""

    base: dict
    grids: list[dict[str, list]] = field(default_factory=lambda: [{}])
    name: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "base": self.base, "grids": self.grids}

    @classmethod
    def from_dict(cls, data: dict) -> "SweepSpec":
        return cls(base=data["base"], grids=[dict(g) for g in data.get("grids") or [{}]], name=data.get("name", ""))

    def title(self) -> str:
        """The sweep's name, else one made from its grid: 'cast nli-RH1: alpha 0.01, 0.05 × k 1e5, 1e6 × seed 1, 2'."""
        return self.name or grid_title(self.base, self.grids)

    def spec_hash(self, trials: list["Trial"] | None = None) -> str:
        """What identifies the sweep for resuming: its trials' keys, in order (``trials``: this
        spec's, when already expanded)."""
        keys = [trial.key for trial in (self.trials() if trials is None else trials)]
        return hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:20]

    def size(self) -> int:
        """How many trials the grids make before duplicates are dropped (counted, not expanded)."""
        return sum(math.prod(len(values) for values in grid.values()) for grid in self.grids)

    def trials(self) -> list[Trial]:
        """Every trial of every grid, validated, duplicates dropped (first kept).

        ConfigError, before anything is expanded, when the grids make more than MAX_TRIALS.
        """
        size = self.size()
        if size > MAX_TRIALS:
            axes = " × ".join(f"{len(values):,} {name.rsplit('.', 1)[-1]}" for grid in self.grids for name, values in grid.items())
            raise ConfigError(f"the grid makes {size:,} trials ({axes}); a sweep takes at most {MAX_TRIALS:,}")
        seen: dict[str, Trial] = {}
        for grid in self.grids:
            names = [resolve_field(name) for name in grid]
            for values in itertools.product(*(list(v) for v in grid.values())):
                trial = make_trial(self.base, dict(zip(names, values)), self.name)
                seen.setdefault(trial.key, trial)
        return list(seen.values())


def grid_title(base: dict, grids: list[dict]) -> str:
    """A name for an unnamed sweep from what it varies: the methods, the data and each axis's values."""
    methods: list[str] = []
    axes: dict[str, list] = {}
    for grid in grids:
        for name, values in grid.items():
            short = name.rsplit(".", 1)[-1]
            if short == "method":
                methods += [str(v) for v in values]
            elif len(values) > 1 or len(grids) == 1:  # one method's own setting in a grid per method: not an axis
                axes.setdefault(short, []).extend(v for v in values if v not in axes.get(short, []))
    methods = list(dict.fromkeys(methods)) or [str((base.get("method") or {}).get("name", "full"))]
    data = base.get("data") or {}
    task = data.get("task", "sentiment")
    variant = data.get("variant") or DataConfig(task=task).resolved_variant()
    head = f"{'+'.join(methods)} {task}-{variant}"
    if not axes:
        return head
    return head + ": " + " × ".join(f"{name} {_values_text(values)}" for name, values in axes.items())


def _values_text(values: list) -> str:
    texts = [str(v) for v in values]
    return ", ".join(texts) if len(texts) <= 3 else f"{texts[0]}…{texts[-1]} ({len(texts)})"


def resolve_field(name: str) -> str:
    """The dotted config key a grid axis names: 'alpha' → 'method.alpha', 'lr' → 'train.lr'.

    'method' (the method's name), 'model' and 'regime' stay as they are.
    """
    from ..methods.registry import get_method, method_names

    name = name.strip()
    if name in ("method", *RUN_LEVEL):
        return name
    section, _, short = name.rpartition(".")
    sections = {"data": {f.name for f in dataclasses.fields(DataConfig)},
                "train": {f.name for f in dataclasses.fields(TrainConfig)},
                "method": {f.name for m in method_names() for f in dataclasses.fields(get_method(m).config_cls)}}
    if section:
        if section not in sections or short not in sections[section]:
            raise ConfigError(f"grid field {name!r} is not a config field (e.g. method.alpha, train.lr, data.variant)")
        return name
    found = [s for s, names in sections.items() if name in names]
    if not found:
        raise ConfigError(f"grid field {name!r} is not a config field (e.g. alpha, k, lr, seed, variant, method)")
    return f"{found[0]}.{name}"


def make_trial(base: dict, assignment: dict[str, Any], sweep_name: str = "") -> Trial:
    """Apply one assignment of axis values to the base config; ConfigError names the trial."""
    from ..methods.registry import get_method

    config = copy.deepcopy(base)
    applied: dict[str, Any] = {}
    method_name = assignment.get("method", config.get("method", {}).get("name", "full"))
    method_cls = get_method(str(method_name)).config_cls  # ConfigError for an unknown name
    method_fields = {f.name: f for f in dataclasses.fields(method_cls)}
    if "method" in assignment:
        kept = {k: v for k, v in (config.get("method") or {}).items() if k in method_fields}
        config["method"] = {"name": method_cls.name, **kept}
        applied["method"] = method_cls.name
    for key, value in assignment.items():
        if key == "method":
            continue
        section, _, name = key.rpartition(".")
        if section == "method" and name not in method_fields:
            _check_for_other_methods(name, value, assignment)  # α = 2 is wrong even where α does not apply
            continue  # e.g. alpha on a baseline: the trial does not depend on it
        owner = {"data": DataConfig, "train": TrainConfig, "method": method_cls}.get(section, RunConfig)
        target = config.setdefault(section, {}) if section else config
        target[name] = _typed(owner, name, value)
        applied[key] = target[name]
    try:
        run_config = RunConfig.from_dict(config)
        if sweep_name:
            run_config.name = f"{sweep_name}: " + ", ".join(f"{k.rsplit('.', 1)[-1]} {v}" for k, v in applied.items())
        # an unnamed sweep's trials keep their default names, which tell their configs apart
        run_config.validate()
        check_k_fits(run_config)
    except ConfigError as exc:
        where = ", ".join(f"{k}={v}" for k, v in assignment.items()) or "the base config"
        raise ConfigError(f"grid trial ({where}): {exc}") from None
    return Trial(config_fingerprint(run_config.to_dict()), run_config, applied)


def check_k_fits(config: RunConfig, num_labels: int | None = None) -> None:
    """The check a masking method makes at its start, made before a sweep starts: K no larger than the
    parameters it counts K from (for a local or packaged model; others are checked when they load).
    ``num_labels``: of the data (default: the task's)."""
    k = getattr(config.method, "k", None)
    if k is None or not config.method.makes_masks:
        return
    from ..data.types import labels_for
    from ..sparse.kspec import parse_k

    eligible = k_eligible(config, num_labels or len(labels_for(config.data.task)))
    if eligible is not None:
        parse_k(k).resolve(eligible)


_ELIGIBLE: dict[tuple, int | None] = {}  # a grid's trials share a few models and method settings


def k_eligible(config: RunConfig, num_labels: int) -> int | None:
    """The parameters ``config``'s method counts K from on its model (None: not known without loading it)."""
    from ..models.size import eligible_parameter_count

    key = (config.model, num_labels, repr(config.method))
    if key not in _ELIGIBLE:
        _ELIGIBLE[key] = eligible_parameter_count(config.model, num_labels, config.method.counts_toward_k)
    return _ELIGIBLE[key]


def _check_for_other_methods(name: str, value: Any, assignment: dict[str, Any]) -> None:
    """Check a method field's grid value against the first method that has the field (ConfigError)."""
    from ..config import check_value
    from ..methods.registry import get_method, method_names

    for method in method_names():
        cls = get_method(method).config_cls
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if name in fields:
            try:
                check_value(method, fields[name], _typed(cls, name, value))
            except ConfigError as exc:
                where = ", ".join(f"{k}={v}" for k, v in assignment.items())
                raise ConfigError(f"grid trial ({where}): {exc}") from None
            return


def axis_notes(spec: "SweepSpec") -> list[str]:
    """Axes that do not apply to some of the sweep's methods: 'alpha does not apply to full (its 3
    values give one trial each of the other axes)'."""
    from ..methods.registry import get_method

    notes = []
    for grid in spec.grids:
        names = [resolve_field(name) for name in grid]
        methods = [str(m) for m in grid.get("method", [])] or [str((spec.base.get("method") or {}).get("name", "full"))]
        for method in dict.fromkeys(methods):
            fields = {f.name for f in dataclasses.fields(get_method(method).config_cls)}
            for key, values in zip(names, grid.values()):
                section, _, short = key.rpartition(".")
                if section == "method" and short not in fields and len(values) > 1:
                    notes.append(f"{short} does not apply to {method}: its {len(values)} values make one trial, not {len(values)}")
    return list(dict.fromkeys(notes))


def _typed(owner: type, name: str, value: Any) -> Any:
    """A grid value (text from a command line, or a number) as the field's type."""
    fields = {f.name: f for f in dataclasses.fields(owner)}
    f = fields[name]
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    if isinstance(value, str):
        return coerce(f, value)
    if kind == "str":
        return _number_text(value)
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _number_text(value: Any) -> str:
    """A number given for a text field (K = 1e7) as the text the field parses."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_axis(text: str) -> tuple[str, list[str]]:
    """'alpha=0.01,0.03' or 'alpha=0.01:0.15:0.02' (inclusive range) → ('method.alpha', values)."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise ConfigError(f"--grid {text!r}: expected FIELD=V1,V2,... or FIELD=START:STOP:STEP")
    key = resolve_field(name)
    parts = [v.strip() for v in values.split(",") if v.strip()]
    if len(parts) == 1 and parts[0].count(":") == 2:
        parts = _number_range(text, *parts[0].split(":"))
    return key, parts


def _number_range(text: str, start: str, stop: str, step: str) -> list[str]:
    try:
        a, b, s = float(start), float(stop), float(step)
    except ValueError:
        raise ConfigError(f"--grid {text!r}: START:STOP:STEP must be numbers") from None
    if not all(math.isfinite(x) for x in (a, b, s)):
        raise ConfigError(f"--grid {text!r}: START:STOP:STEP must be finite numbers")
    if s <= 0 or b < a:
        raise ConfigError(f"--grid {text!r}: the range must rise by a positive step")
    count = (b - a) / s + 1
    if count > MAX_TRIALS:
        raise ConfigError(f"--grid {text!r}: the range has {count:,.0f} values; a sweep takes at most {MAX_TRIALS:,} trials")
    count = int(round((b - a) / s)) + 1
    return [f"{round(a + i * s, 10):g}" for i in range(count) if a + i * s <= b + s * 1e-9]

