"""Sweeps over config grids, executors (serial, local processes, Ray), and the paper's
tables and figures. Free of Qt; torch is imported only when a trial runs."""

from .grid import SweepSpec, Trial, parse_axis, resolve_field
from .paper import EXPERIMENTS, PRESETS, plan
from .sweep import SweepProgress, SweepResult, run_sweep, sweep_trial_runs

__all__ = ["SweepSpec", "Trial", "parse_axis", "resolve_field", "EXPERIMENTS", "PRESETS", "plan",
           "SweepProgress", "SweepResult", "run_sweep", "sweep_trial_runs"]
