"""The paper's experiments as sweeps: presets, and the grids of Tables 2–3 and Figure 2.

See ../shared/docs/experiments.md. ``paper`` is the paper's setting
(BERT-base, length 300, batch 128, lr 1e-5, up to 100 epochs, patience 10,
5 seeds); ``quick`` fits a 2-core CPU (the packaged MiniLM, the first 600
training originals and their revisions, full dev and test sets, length 128,
3 epochs, 2 seeds) and uses a larger
learning rate because the paper's needs its long schedule. Any field can be
overridden (``--set train.lr=2e-5``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ..config import RunConfig
from ..errors import ConfigError
from ..settings import absolute_data
from ..methods.registry import get_method, method_names
from .grid import SweepSpec, make_trial, resolve_field
from .tuning import PROTOCOLS

EXPERIMENTS = ("table2", "table3", "figure2", "figure3")


@dataclass
class Preset:
    """Settings of one preset: the base config's fields, seeds, CAST's α and K, Figure 2's grid."""

    name: str
    settings: dict
    seeds: list[int]
    alpha: float
    k: str
    figure2_alphas: list[float]
    figure2_ks: list[str]
    help: str = ""


PRESETS = {
    "paper": Preset(
        "paper",
        {"model": "bert-base-uncased", "train.max_length": 300, "train.batch_size": 128, "train.lr": 1e-5,
         "train.max_epochs": 100, "train.patience": 10},
        seeds=[1, 2, 3, 4, 5], alpha=0.05, k="1e7",
        figure2_alphas=[0.01, 0.03, 0.05, 0.07, 0.09, 0.11, 0.13, 0.15], figure2_ks=["1e4", "1e5", "1e6", "1e7"],
        help="the paper's settings: BERT-base, length 300, batch 128, lr 1e-5, up to 100 epochs, patience 10, 5 seeds"),
    "quick": Preset(
        "quick",
        {"model": "minilm", "train.max_length": 128, "train.batch_size": 16, "train.lr": 1e-4,
         "train.max_epochs": 3, "train.patience": 10, "data.train_limit": 600},
        seeds=[1, 2], alpha=0.05, k="9.1%",
        figure2_alphas=[0.01, 0.05, 0.15], figure2_ks=["1e5", "1e6"],
        help="for a CPU: packaged MiniLM, first 600 training originals (all dev and test examples), length 128, batch 16, lr 1e-4, 3 epochs, 2 seeds"),
}


@dataclass
class PaperPlan:
    """One experiment of the paper as a sweep, and how its results are laid out."""

    experiment: str
    preset: Preset
    spec: SweepSpec
    columns: list[tuple[str, str]] = field(default_factory=list)  # (variant, column title)
    task: str = ""
    data_source: str = ""
    protocol: str = "paper"  # paper: the preset's one learning rate; tuned: each method's grid, picked on validation
    lr_grids: dict[str, list[float]] = field(default_factory=dict)  # tuned: the rates tried per method


def method_lr_grids(methods, overrides: dict[str, list[float]]) -> dict[str, list[float]]:
    """Each method's learning-rate grid: the method's own (its ``lr_grid``) unless ``overrides`` names it."""
    unknown = sorted(set(overrides) - set(methods))
    if unknown:
        raise ConfigError(f"learning-rate grid for {unknown[0]!r}: not one of the table's methods ({', '.join(methods)})")
    grids = {}
    for method in methods:
        grid = [float(lr) for lr in overrides.get(method) or get_method(method).config_cls.lr_grid]
        if not grid or any(not 0 < lr <= 1 for lr in grid):
            raise ConfigError(f"learning-rate grid for {method}: {grid} must hold rates in (0, 1]")
        grids[method] = grid
    return grids


def base_config(preset: Preset, task: str, data: str, overrides: dict[str, str]) -> dict:
    """The preset's settings on a default config, then the user's overrides (validated)."""
    base = RunConfig().to_dict()
    base["data"].update(task=task, data=absolute_data(data))
    for key, value in preset.settings.items():
        section, _, name = key.rpartition(".")
        (base.setdefault(section, {}) if section else base)[name] = value
    user = {resolve_field(k): v for k, v in overrides.items()}
    if "method" in user or "method.name" in user:
        raise ConfigError("the paper's experiments choose the methods; --set method=... does not apply")
    # The overrides as a trial's assignment: typed from their text ('32', '2e-5') and every value checked.
    checked = make_trial(base, user).config.to_dict()
    checked["method"] = {"name": "full"}
    return checked


def plan(experiment: str, preset_name: str = "quick", *, data: str = "upstream", overrides: dict[str, str] | None = None,
         seeds: list[int] | None = None, alpha: float | None = None, k: str | None = None,
         alphas: list[float] | None = None, ks: list[str] | None = None, task: str | None = None,
         variant: str | None = None, protocol: str = "paper",
         lr_grids: dict[str, list[float]] | None = None, variants: list[str] | None = None) -> PaperPlan:
    """The sweep that runs one of the paper's experiments (figure3 needs no training: no trials).

    Tables: ``protocol`` 'paper' trains every method at the preset's learning rate; 'tuned' trains
    each method over its learning-rate grid (its ``lr_grid``, or ``lr_grids[method]``) so the
    table can pick each method's rate on validation accuracy (see tuning.py). ``variants``
    keeps only those CAD columns (the No CAD column stays).
    """
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"experiment {experiment!r} is not one of {', '.join(EXPERIMENTS)}")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if protocol == "tuned" and experiment not in ("table2", "table3"):
        raise ConfigError(f"the tuned protocol applies to the tables (table2, table3), not to {experiment}")
    if preset_name not in PRESETS:
        raise ConfigError(f"preset {preset_name!r} is not one of {', '.join(PRESETS)}")
    preset = copy.deepcopy(PRESETS[preset_name])
    seeds = seeds or preset.seeds
    cast_alpha, cast_k = alpha if alpha is not None else preset.alpha, k or preset.k
    name = f"{experiment} ({preset_name})"
    if experiment in ("table2", "table3"):
        task = task or ("sentiment" if experiment == "table2" else "nli")
        all_variants = ["CAD"] if task == "sentiment" else ["RP1", "RP2", "RH1", "RH2"]
        unknown = [v for v in variants or [] if v not in all_variants]
        if unknown:
            raise ConfigError(f"variant {unknown[0]!r} is not a column of {experiment} ({', '.join(all_variants)})")
        variants = [v for v in all_variants if not variants or v in variants]
        base = base_config(preset, task, data, overrides or {})
        baselines = [m for m in method_names() if not get_method(m).config_cls.uses_both_branches]
        grids = [
            {"method": baselines, "data.variant": ["RAW"], "regime": ["nocad"], "train.seed": seeds},
            {"method": baselines, "data.variant": variants, "regime": ["cad"], "train.seed": seeds},
            {"method": ["cast"], "data.variant": variants, "regime": ["cad"], "train.seed": seeds,
             "method.alpha": [cast_alpha], "method.k": [cast_k]},
        ]
        columns = [("RAW", "No CAD")] + [(v, v) for v in variants]
        rates: dict[str, list[float]] = {}
        if protocol == "tuned":
            rates = method_lr_grids(method_names(), lr_grids or {})
            grids = [{**grid, "method": [method], "train.lr": rates[method]}
                     for grid in grids for method in grid["method"]]
            name = f"{experiment} ({preset_name}, tuned)"
        spec = SweepSpec(base, grids, name)
        return PaperPlan(experiment, preset, spec, columns, task, protocol=protocol, lr_grids=rates)
    if experiment == "figure2":
        task = task or "sentiment"
        base = base_config(preset, task, data, overrides or {})
        variant = variant or ("CAD" if task == "sentiment" else "RH1")
        grid = {"method": ["cast"], "data.variant": [variant], "regime": ["cad"], "train.seed": seeds,
                "method.alpha": alphas or preset.figure2_alphas, "method.k": ks or preset.figure2_ks}
        return PaperPlan(experiment, preset, SweepSpec(base, [grid], name), [(variant, variant)], task)
    return PaperPlan(experiment, preset, SweepSpec({}, [], name), [(v, v) for v in ("RP1", "RP2", "RH1", "RH2")], "nli",
                     absolute_data(data))
