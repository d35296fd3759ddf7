"""Methods × regimes × seeds: the runs a study asks for, one config each (no torch)."""

from __future__ import annotations

from typing import Callable, Sequence

from ..config import RunConfig
from ..errors import ConfigError
from ..methods.registry import get_method


def expand_runs(config_for: Callable[[str, str, int], RunConfig], methods: Sequence[str], regimes: Sequence[str],
                seeds: Sequence[int]) -> list[RunConfig]:
    """One validated config per method × regime × seed, built by ``config_for(method, regime, seed)``.

    A method that trains on counterfactuals by construction (CAST) runs once per
    seed, in the CAD regime, whatever regimes the baselines use. ConfigError
    names the first problem.
    """
    if not methods:
        raise ConfigError("tick at least one method")
    if not regimes and any(not get_method(m).config_cls.uses_both_branches for m in methods):
        raise ConfigError("tick No CAD, CAD or both for the baselines")
    configs = []
    for method in methods:
        both = get_method(method).config_cls.uses_both_branches
        for regime in (["cad"] if both else regimes):
            for seed in seeds:
                config = config_for(method, regime, seed)
                config.validate()
                configs.append(config)
    return configs
