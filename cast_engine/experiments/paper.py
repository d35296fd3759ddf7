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


def base_config(preset: Preset, task: str, data: str, overrides: dict[str, str]) -> dict:
    """The preset's settings on a default config, then the user's overrides (validated)."""
    base = RunConfig().to_dict()
    base["data"].update(task=task, data=absolute_data(data))
    for key, value in {**preset.settings, **{resolve_field(k): v for k, v in overrides.items()}}.items():
        if key in ("method", "method.name"):
            raise ConfigError("the paper's experiments choose the methods; --set method=... does not apply")
        section, _, name = key.rpartition(".")
        (base.setdefault(section, {}) if section else base)[name] = value
    # A trial built from the base alone checks every value and types the overrides.
    checked = make_trial(base, {}).config.to_dict()
    checked["method"] = {"name": "full"}
    return checked


def plan(experiment: str, preset_name: str = "quick", *, data: str = "upstream", overrides: dict[str, str] | None = None,
         seeds: list[int] | None = None, alpha: float | None = None, k: str | None = None,
         alphas: list[float] | None = None, ks: list[str] | None = None, task: str | None = None,
         variant: str | None = None) -> PaperPlan:
    """The sweep that runs one of the paper's experiments (figure3 needs no training: no trials)."""
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"experiment {experiment!r} is not one of {', '.join(EXPERIMENTS)}")
    if preset_name not in PRESETS:
        raise ConfigError(f"preset {preset_name!r} is not one of {', '.join(PRESETS)}")
    preset = copy.deepcopy(PRESETS[preset_name])
    seeds = seeds or preset.seeds
    cast_alpha, cast_k = alpha if alpha is not None else preset.alpha, k or preset.k
    name = f"{experiment} ({preset_name})"
    if experiment in ("table2", "table3"):
        task = task or ("sentiment" if experiment == "table2" else "nli")
        variants = ["CAD"] if task == "sentiment" else ["RP1", "RP2", "RH1", "RH2"]
        base = base_config(preset, task, data, overrides or {})
        baselines = [m for m in method_names() if not get_method(m).config_cls.uses_both_branches]
        grids = [
            {"method": baselines, "data.variant": ["RAW"], "regime": ["nocad"], "train.seed": seeds},
            {"method": baselines, "data.variant": variants, "regime": ["cad"], "train.seed": seeds},
            {"method": ["cast"], "data.variant": variants, "regime": ["cad"], "train.seed": seeds,
             "method.alpha": [cast_alpha], "method.k": [cast_k]},
        ]
        columns = [("RAW", "No CAD")] + [(v, v) for v in variants]
        return PaperPlan(experiment, preset, SweepSpec(base, grids, name), columns, task)
    if experiment == "figure2":
        task = task or "sentiment"
        base = base_config(preset, task, data, overrides or {})
        variant = variant or ("CAD" if task == "sentiment" else "RH1")
        grid = {"method": ["cast"], "data.variant": [variant], "regime": ["cad"], "train.seed": seeds,
                "method.alpha": alphas or preset.figure2_alphas, "method.k": ks or preset.figure2_ks}
        return PaperPlan(experiment, preset, SweepSpec(base, [grid], name), [(variant, variant)], task)
    return PaperPlan(experiment, preset, SweepSpec({}, [], name), [(v, v) for v in ("RP1", "RP2", "RH1", "RH2")], "nli",
                     absolute_data(data))
