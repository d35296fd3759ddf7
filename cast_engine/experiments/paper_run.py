"""`cast paper EXPERIMENT`: run (or reuse) the sweep of one paper experiment and write its outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CastError
from . import outputs
from .paper import PaperPlan
from .sweep import SweepResult, run_sweep, trial_runs


@dataclass
class PaperOutput:
    """The files an experiment wrote and the sweep behind them (None for Figure 3)."""

    files: list[Path] = field(default_factory=list)
    sweep: SweepResult | None = None
    table: outputs.PaperTable | None = None
    grid: outputs.SweepGrid | None = None


def run_paper(plan: PaperPlan, out: Path, *, store=None, executor=None, metric: str = "combined",
              reference: str | None = "full", run: bool = True, cancel=None, on_progress=None,
              evaluation: str | None = None) -> PaperOutput:
    """Run the plan's missing trials (``run=False``: only what the store has), then write files.

    ``evaluation``: the table shows each run's evaluation of that name (see `cast evaluate`)
    instead of its own test split; runs without one count as missing.
    """
    from ..runs.runner import open_store

    out = Path(out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CastError(f"cannot create the output folder {out}: {exc.strerror or exc}") from exc
    if plan.experiment == "figure3":
        return _figure3(plan, out)
    store = open_store(store)
    trials = plan.spec.trials()
    result = None
    if run:
        result = run_sweep(plan.spec, store=store, executor=executor, kind=plan.experiment, reuse=True,
                           cancel=cancel, on_progress=on_progress)
        sweep_id = result.sweep_id
    else:  # read only: the plan's own sweep if there is one, else any matching runs
        existing = store.list_sweeps(spec_hash=plan.spec.spec_hash(trials))
        sweep_id = existing[0]["id"] if existing else None
    runs = trial_runs(store, sweep_id, trials, reuse=True)
    if evaluation is not None:
        from ..runs.pair_data import run_results

        runs = {key: {**run, "results": run_results(store, run, evaluation)} for key, run in runs.items()}
    output = PaperOutput(sweep=result)
    stem = (f"{plan.experiment}-{plan.preset.name}" + ("-tuned" if plan.protocol == "tuned" else "")
            + (f"-{evaluation}" if evaluation else ""))
    if plan.experiment in ("table2", "table3"):
        output.table = outputs.paper_table(store, plan, trials, runs, metric, reference, evaluation)
        output.files = outputs.write_table_files(output.table, out, stem)
    else:
        grid = outputs.sweep_grid(trials, runs, metric, "method.alpha", "method.k")
        variant = plan.columns[0][1]
        task = "NLI" if plan.task == "nli" else plan.task
        title = f"Figure 2: CAST on {task} {variant}, preset {plan.preset.name}"
        output.grid = grid
        output.files = [outputs.write_text(out / f"{stem}.csv", outputs.grid_csv(grid)),
                        outputs.write_text(out / f"{stem}.md", outputs.grid_markdown(grid, title)),
                        *outputs.save_figure(outputs.figure2_plot(grid, title), out, stem)]
    return output


def _figure3(plan: PaperPlan, out: Path) -> PaperOutput:
    from ..data import load_cad

    data = plan.spec.base.get("data", {}).get("data") if plan.spec.base else None
    source = plan.data_source or data or "upstream"
    variants = [v for v, _ in plan.columns]
    counts = outputs.figure3_counts(lambda variant: load_cad(source, "nli", variant), variants)
    title = "Figure 3: label pairs of the NLI revisions (training split)"
    stem = "figure3"
    files = [outputs.write_text(out / f"{stem}.csv", outputs.counts_csv(counts)),
             *outputs.save_figure(outputs.figure3_plot(counts, title), out, stem)]
    return PaperOutput(files=files)
