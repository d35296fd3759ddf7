"""Choosing a learning rate the fair way: by mean validation accuracy over seeds, never by test.

The tuned protocol runs each method over its own learning-rate grid (the
method's ``lr_grid``, from its paper). For every method and dataset column
the rate whose runs reach the highest mean validation accuracy is picked, and
only then are that rate's test accuracies reported. Test accuracy is read for
the table after the choice and never enters it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

PROTOCOLS = ("paper", "tuned")
PROTOCOL_TEXT = {
    "paper": "one learning rate for every method (the preset's)",
    "tuned": ("each method's learning-rate grid from its own paper; the rate is picked per method and column by "
              "mean validation accuracy over seeds (never test), then the picked rate's test accuracy is reported"),
}


@dataclass
class LrCandidate:
    """The runs of one method in one column at one learning rate: validation and test accuracy in percent."""

    lr: float
    runs: list[dict] = field(default_factory=list)
    dev: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)

    @property
    def dev_mean(self) -> float | None:
        return statistics.fmean(self.dev) if self.dev else None

    @property
    def dev_std(self) -> float | None:
        return statistics.stdev(self.dev) if len(self.dev) > 1 else None


def trained_lr(config) -> float:
    """The learning rate a trial's config trains at (the method's recommended one when unset)."""
    return config.resolved_lr()[0]


def validation_score(store, run: dict, metric: str) -> float | None:
    """A run's validation accuracy (0-1) of ``metric`` at the epoch whose weights were tested.

    Runs record it in ``results['best_val']``; for runs stored before that, it
    is read from the epoch rows (the best epoch's, else the best seen).
    """
    recorded = ((run.get("results") or {}).get("best_val") or {}).get(metric)
    if isinstance(recorded, (int, float)):
        return float(recorded)
    rows = [row for row in store.epochs(run["id"]) if isinstance(row.get(f"val_{metric}"), (int, float))]
    at_best = [row for row in rows if row["epoch"] == run.get("best_epoch")]
    if at_best:
        return float(at_best[-1][f"val_{metric}"])
    return max((float(row[f"val_{metric}"]) for row in rows), default=None)


def pick(candidates: list[LrCandidate]) -> LrCandidate | None:
    """The candidate with the highest mean validation accuracy (a tie goes to the smaller rate);
    None when no candidate has a validated run. Test accuracy is not looked at."""
    validated = [c for c in candidates if c.dev]
    if not validated:
        return None
    return max(sorted(validated, key=lambda c: c.lr), key=lambda c: c.dev_mean)


def tuned_grids(base: dict, grid: dict[str, list]) -> list[dict[str, list]]:
    """A sweep grid under the tuned protocol: one grid per method (the grid's methods, else the
    base's), each with the method's own learning-rate grid as its ``train.lr`` axis.

    ConfigError when the grid already varies the learning rate (the two would contradict).
    """
    from ..errors import ConfigError
    from ..methods.registry import get_method

    if "train.lr" in grid:
        raise ConfigError("the tuned protocol sets each method's learning rates: remove the train.lr axis, "
                          "or choose one learning rate for every method")
    methods = [str(m) for m in grid.get("method") or [(base.get("method") or {}).get("name", "full")]]
    return [{**grid, "method": [method], "train.lr": list(get_method(method).config_cls.lr_grid)}
            for method in methods]


@dataclass
class PickedRate:
    """The learning rate picked on validation for one setting of a sweep (all axes but rate and seed)."""

    setting: dict
    picked: LrCandidate | None
    candidates: list[LrCandidate]

    def text(self) -> str:
        """'method lora, variant RH1: lr 0.0005 (validation 61.2, test 60.3; n=2)'."""
        label = ", ".join(f"{k.rsplit('.', 1)[-1]} {v}" for k, v in self.setting.items()) or "every trial"
        if self.picked is None:
            return f"{label}: no validated run yet"
        test = statistics.fmean(self.picked.test)
        return (f"{label}: lr {self.picked.lr:g} (validation {self.picked.dev_mean:.1f}, "
                f"test {test:.1f}; n={len(self.picked.test)})")


def picked_rates(store, trials, runs: dict[str, dict], metric: str = "combined") -> list[PickedRate]:
    """For each setting of a sweep's trials (their axis values but the learning rate and the seed),
    the learning rate with the best mean validation accuracy; test accuracy is only reported."""
    groups: dict[str, PickedRate] = {}
    for trial in trials:
        setting = {k: v for k, v in trial.assignment.items() if k not in ("train.lr", "train.seed")}
        group = groups.setdefault(repr(sorted(setting.items())), PickedRate(setting, None, []))
        lr = trained_lr(trial.config)
        candidate = next((c for c in group.candidates if c.lr == lr), None)
        if candidate is None:
            candidate = LrCandidate(lr)
            group.candidates.append(candidate)
        run = runs.get(trial.key)
        value = ((run or {}).get("results") or {}).get(metric)
        if run is not None and isinstance(value, (int, float)):
            dev = validation_score(store, run, metric)
            if dev is not None:
                candidate.runs.append(run)
                candidate.dev.append(100.0 * dev)
                candidate.test.append(100.0 * value)
    for group in groups.values():
        group.picked = pick(group.candidates)
    return list(groups.values())
