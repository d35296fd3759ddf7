"""The paper's tables and figures from a sweep's runs: Markdown, CSV, LaTeX, PNG and SVG.

Every table cell is the mean ± sample std (ddof=1) of one test accuracy over
the seeds that completed, with the seed count; the caption says which
accuracy. Cells can be marked where a method differs significantly from the
reference method in the same column (paired bootstrap and McNemar, see
cast_engine.evaluate.significance). Figures are drawn with matplotlib's Agg
backend (no display needed).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CastError, ConfigError, StoreError
from ..export.tables import SeedStats, latex_escape, mean_std_text, write_text
from ..methods.registry import method_names, method_title
from .paper import PaperPlan
from .tuning import PROTOCOL_TEXT, LrCandidate, pick, trained_lr, validation_score

METRIC_TEXT = {
    "combined": "combined test accuracy (original and revised test examples pooled; originals only for No CAD)",
    "factual": "test accuracy on the original (factual) examples",
    "counterfactual": "test accuracy on the revised (counterfactual) examples",
    "pair": "pair accuracy (an original and its revision both right)",
}
MARK = "*"


@dataclass
class Cell(SeedStats):
    """The runs of one method in one column and what they measured (in percent)."""

    runs: list[dict] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    comparison: object | None = None  # PairedComparison against the reference method
    lr: float | None = None  # the learning rate of the runs shown (the tuned protocol's pick)
    candidates: list[LrCandidate] = field(default_factory=list)  # every learning rate tried, with dev and test

    @property
    def train_examples(self) -> float | None:
        """Mean training examples processed per run (forward and backward passes), None when not recorded."""
        return _mean_result(self.runs, "train_examples")

    @property
    def train_time_s(self) -> float | None:
        """Mean seconds per run spent in training passes, None when not recorded."""
        return _mean_result(self.runs, "train_time_s")

    @property
    def significant(self) -> bool:
        return self.comparison is not None and self.comparison.significant()

    def text(self, pm: str = "±", missing: str = "–") -> str:
        if not self.values:
            return missing
        return f"{mean_std_text(self, pm=pm)} (n={self.n})" + (MARK if self.significant else "")


def _mean_result(runs: list[dict], key: str) -> float | None:
    values = [(run.get("results") or {}).get(key) for run in runs]
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values and len(values) == len(runs) else None


@dataclass
class PaperTable:
    """Methods × columns (dataset variants) of one accuracy."""

    title: str
    metric: str
    columns: list[tuple[str, str]]
    methods: list[str]
    cells: dict[tuple[str, str], Cell]
    reference: str | None
    expected_seeds: int
    protocol: str = "paper"

    @property
    def caption(self) -> str:
        text = f"{self.title}: {METRIC_TEXT[self.metric]}, %, mean ± sample std over seeds (n = seeds completed"
        text += f" of {self.expected_seeds})."
        text += f" Protocol {self.protocol}: {PROTOCOL_TEXT[self.protocol]}."
        picked = self.picked_lr_text()
        if picked:
            text += f" Learning rates{' picked' if self.protocol == 'tuned' else ''}: {picked}."
        if self.reference:
            text += (f" {MARK}: differs from {method_title(self.reference)} in the same column "
                     "(paired bootstrap 95 % CI of the difference excludes 0 and McNemar p < 0.05, seeds paired).")
        return text


    def picked_lr_text(self) -> str:
        """'Full fine-tuning 5e-05; LoRA 5e-04 (No CAD), 1e-03 (RH1)': each method's learning rate per column."""
        parts = []
        for method in self.methods:
            by_column = [(title, self.cells[(method, variant)].lr) for variant, title in self.columns
                         if (method, variant) in self.cells and self.cells[(method, variant)].lr is not None]
            if not by_column:
                continue
            rates = {lr for _, lr in by_column}
            shown = (f"{next(iter(rates)):g}" if len(rates) == 1
                     else ", ".join(f"{lr:g} ({title})" for title, lr in by_column))
            parts.append(f"{method_title(method)} {shown}")
        return "; ".join(parts)


def paper_table(store, plan: PaperPlan, trials, runs: dict[str, dict], metric: str = "combined",
                reference: str | None = "full", evaluation: str | None = None) -> PaperTable:
    """Group a table experiment's completed runs by method, column and learning rate; under the
    tuned protocol keep, per method and column, the rate with the best mean validation accuracy
    (see tuning.py; validation is always the run's own); compare to ``reference`` (on each run's
    evaluation ``evaluation`` when given, else on its own test split)."""
    from ..evaluate.significance import compare_runs

    if metric not in METRIC_TEXT:
        raise ConfigError(f"metric = {metric!r} is not one of {', '.join(METRIC_TEXT)}")
    cells: dict[tuple[str, str], Cell] = {}
    methods = [m for m in method_names() if any(t.config.method.name == m for t in trials)]
    for trial in trials:
        cell = cells.setdefault((trial.config.method.name, trial.config.data.variant), Cell())
        lr = trained_lr(trial.config)
        candidate = next((c for c in cell.candidates if c.lr == lr), None)
        if candidate is None:
            candidate = LrCandidate(lr)
            cell.candidates.append(candidate)
        run = runs.get(trial.key)
        value = ((run or {}).get("results") or {}).get(metric)
        if run is not None and isinstance(value, (int, float)):
            candidate.runs.append(run)
            candidate.test.append(100.0 * value)
            dev = validation_score(store, run, metric)
            if dev is not None:
                candidate.dev.append(100.0 * dev)
    for cell in cells.values():
        cell.candidates.sort(key=lambda c: c.lr)
        chosen = pick(cell.candidates) if len(cell.candidates) > 1 else cell.candidates[0]
        if chosen is not None:  # the test numbers of the chosen rate only
            cell.lr, cell.runs, cell.values = chosen.lr, list(chosen.runs), list(chosen.test)
    if reference in methods:
        for (method, variant), cell in cells.items():
            base = cells.get((reference, variant))
            if method == reference or base is None or not cell.runs or not base.runs:
                continue
            try:
                cell.comparison = compare_runs(store, cell.runs, base.runs, evaluation, shared_seeds_only=True)
            except (ConfigError, StoreError):
                cell.comparison = None  # no shared seeds or no stored predictions: no mark
    title = {"table2": "Table 2 (sentiment)", "table3": "Table 3 (NLI)"}.get(plan.experiment, plan.experiment)
    seeds = {t.config.train.seed for t in trials}
    on = f", evaluation {evaluation!r}" if evaluation else ""
    return PaperTable(f"{title}, preset {plan.preset.name}{on}", metric, plan.columns, methods, cells,
                      reference if reference in methods else None, len(seeds), plan.protocol)


def table_markdown(table: PaperTable) -> str:
    header = ["method", *(title for _, title in table.columns)]
    lines = [table.caption, "", "| " + " | ".join(header) + " |", "| --- |" + " ---: |" * len(table.columns)]
    for method in table.methods:
        cells = [table.cells.get((method, variant), Cell()).text() for variant, _ in table.columns]
        lines.append("| " + " | ".join([method_title(method), *cells]) + " |")
    return "\n".join(lines) + "\n\n" + compute_markdown(table)


def table_csv(table: PaperTable) -> str:
    """One line per cell and learning rate tried (the tuned protocol's whole grid): validation and
    test mean and std in full precision, whether the rate was picked, compute per run, and for the
    picked rate the comparison with the reference; run ids."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["method", "column", "variant", "metric", "protocol", "lr", "picked", "n", "dev_mean", "dev_std",
                     "mean", "std", "train_examples", "train_time_s", "reference", "difference", "ci_low", "ci_high",
                     "mcnemar_p", "significant", "run_ids"])
    for method in table.methods:
        for variant, title in table.columns:
            cell = table.cells.get((method, variant))
            if cell is None:
                continue
            for candidate in cell.candidates or [LrCandidate(cell.lr or 0.0)]:
                picked = candidate.lr == cell.lr
                shown = Cell(runs=candidate.runs, values=candidate.test)
                comp = cell.comparison if picked else None
                numbers = ["" if v is None else f"{v:.4f}" for v in
                           (candidate.dev_mean, candidate.dev_std, shown.mean, shown.std)]
                compute = [_number(shown.train_examples, ".0f"), _number(shown.train_time_s, ".2f")]
                if comp is not None:
                    compared = [table.reference, f"{100 * comp.difference:.4f}", f"{100 * comp.ci_low:.4f}",
                                f"{100 * comp.ci_high:.4f}", f"{comp.p_value:.6g}", str(comp.significant()).lower()]
                else:
                    compared = ["", "", "", "", "", ""]
                writer.writerow([method, title, variant, table.metric, table.protocol, f"{candidate.lr:g}",
                                 str(picked).lower(), shown.n, *numbers, *compute, *compared,
                                 " ".join(str(run["id"]) for run in candidate.runs)])
    return out.getvalue()


def _number(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def compute_markdown(table: PaperTable) -> str:
    """Compute behind each cell: mean training examples processed (forward and backward passes) and
    mean training time per run, so methods can be compared at equal compute, not equal epochs."""
    lines = ["Compute per run (mean over the seeds shown): training examples processed (forward and backward "
             "passes; CAST's two passes count twice) / seconds in training passes.", "",
             "| method | " + " | ".join(title for _, title in table.columns) + " |",
             "| --- |" + " ---: |" * len(table.columns)]
    for method in table.methods:
        cells = []
        for variant, _ in table.columns:
            cell = table.cells.get((method, variant), Cell())
            examples, seconds = cell.train_examples, cell.train_time_s
            cells.append("–" if examples is None else f"{examples:,.0f} / {seconds:.0f} s")
        lines.append("| " + " | ".join([method_title(method), *cells]) + " |")
    return "\n".join(lines) + "\n"


def table_latex(table: PaperTable) -> str:
    caption = latex_escape(table.caption).replace("±", "$\\pm$").replace(" < ", " $<$ ")
    lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}}}",
             f"\\begin{{tabular}}{{l{'r' * len(table.columns)}}}", "\\toprule",
             " & ".join(["Method", *(latex_escape(title) for _, title in table.columns)]) + " \\\\", "\\midrule"]
    for method in table.methods:
        cells = []
        for variant, _ in table.columns:
            cell = table.cells.get((method, variant), Cell())
            text = cell.text(pm="$\\pm$", missing="--").replace("(n=", "($n$=").replace("–", "--")
            cells.append(text.replace(MARK, "$^{*}$") if cell.significant else text)
        lines.append(" & ".join([latex_escape(method_title(method)), *cells]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def write_table_files(table: PaperTable, out: Path, stem: str) -> list[Path]:
    """``stem``.md, .csv and .tex in ``out``."""
    return [write_text(out / f"{stem}{suffix}", writer(table))
            for suffix, writer in ((".md", table_markdown), (".csv", table_csv), (".tex", table_latex))]



# ---------------------------------------------------------------- figure 2

@dataclass
class GridPoint(SeedStats):
    """Mean accuracy (%) of one grid cell (x, y) over its completed seeds."""

    x: object
    y: object
    values: list[float]
    run_ids: list[int]


@dataclass
class SweepGrid:
    """A sweep's trials laid out on two of its axes (Figure 2: α across, a line per K)."""

    x_field: str
    y_field: str | None
    metric: str
    points: list[GridPoint]

    def xs(self) -> list:
        return sorted({p.x for p in self.points}, key=_sort_key)

    def ys(self) -> list:
        return list(dict.fromkeys(p.y for p in self.points))

    def point(self, x, y) -> GridPoint | None:
        return next((p for p in self.points if p.x == x and p.y == y), None)

    def label(self, field_name: str | None) -> str:
        return {"method.alpha": "α", "method.k": "K", None: ""}.get(field_name, (field_name or "").rsplit(".", 1)[-1])


def _sort_key(value) -> tuple:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def trial_value(trial, field_name: str, flat: dict | None = None):
    """A trial's value of a dotted config field ('method' is the method's name); ``flat``: the
    trial's flattened config, when the caller already has it."""
    if flat is None:
        flat = trial_fields(trial)
    return flat.get("method.name") if field_name == "method" else flat.get(field_name)


def trial_fields(trial) -> dict:
    """A trial's config as ``{dotted field: value}``."""
    from ..config import flatten_config

    return flatten_config(trial.config.to_dict())


def grid_axes(trials, flats: list[dict] | None = None) -> tuple[str | None, str | None]:
    """The two axes to lay a sweep out on: α and K when they vary, else the first two varying
    fields other than the seed (None where there are fewer). ``flats``: the trials' ``trial_fields``."""
    flats = flats if flats is not None else [trial_fields(t) for t in trials]
    names = dict.fromkeys(name for trial in trials for name in trial.assignment if name != "train.seed")
    varying = [name for name in names if len({repr(trial_value(t, name, f)) for t, f in zip(trials, flats)}) > 1]
    preferred = [f for f in ("method.alpha", "method.k") if f in varying]
    ordered = preferred + [f for f in varying if f not in preferred]
    return (ordered + [None, None])[0], (ordered + [None, None])[1]


def sweep_grid(trials, runs: dict[str, dict], metric: str = "combined", x_field: str | None = None,
               y_field: str | None = None, flats: list[dict] | None = None) -> SweepGrid:
    """Completed runs grouped by (x, y) in grid order, each with its seeds' accuracies in percent.
    ``flats``: the trials' ``trial_fields``, when the caller keeps them."""
    if flats is None:
        flats = [trial_fields(t) for t in trials]  # once per trial: a config's to_dict is the slow part
    if x_field is None:
        x_field, y_field = grid_axes(trials, flats)
    x_field = x_field or "train.seed"
    points: dict[tuple, GridPoint] = {}
    for trial, flat in zip(trials, flats):
        x = trial_value(trial, x_field, flat)
        y = trial_value(trial, y_field, flat) if y_field else None
        point = points.setdefault((repr(x), repr(y)), GridPoint(x, y, [], []))
        run = runs.get(trial.key)
        value = ((run or {}).get("results") or {}).get(metric)
        if run is not None and isinstance(value, (int, float)):
            point.values.append(100.0 * value)
            point.run_ids.append(run["id"])
    return SweepGrid(x_field, y_field, metric, list(points.values()))


def plain_label(grid: SweepGrid, y) -> str:
    """``y_label`` without mathtext, for Markdown."""
    return y_label(grid, y).replace("$", "").replace("{", "").replace("}", "")


def y_label(grid: SweepGrid, y) -> str:
    """'1e7' on the K axis → 'K = 10^7' (mathtext); other axes 'name = value'."""
    name = grid.label(grid.y_field)
    if grid.y_field == "method.k":
        try:
            value = float(y)
            exponent = round(__import__("math").log10(value)) if value > 0 else None
            if exponent is not None and 10 ** exponent == value:
                return f"K = $10^{{{exponent}}}$"
        except ValueError:
            pass
    return f"{name} = {y}" if name else str(y)


def _cell_text(p: GridPoint | None) -> str:
    if p is None or p.mean is None:
        return "–"
    return f"{mean_std_text(p)} (n={p.n})"


def grid_csv(grid: SweepGrid) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    x_name, y_name = (f.rsplit(".", 1)[-1] if f else "" for f in (grid.x_field, grid.y_field))
    writer.writerow([x_name, *([y_name] if grid.y_field else []), "metric", "n", "mean", "std", "run_ids"])
    for p in grid.points:
        writer.writerow([format(p.x, "g") if isinstance(p.x, float) else p.x, *([p.y] if grid.y_field else []),
                         grid.metric, len(p.values), "" if p.mean is None else f"{p.mean:.4f}",
                         "" if p.std is None else f"{p.std:.4f}", " ".join(map(str, p.run_ids))])
    return out.getvalue()


def grid_markdown(grid: SweepGrid, title: str) -> str:
    """Rows: the x values; columns: the y values; cells mean ± std (n)."""
    what = METRIC_TEXT[grid.metric].replace("; originals only for No CAD", "")
    ys = grid.ys()
    x_name = grid.label(grid.x_field)
    lines = [f"{title}: {what}, %, mean ± sample std over seeds (n = seeds completed).", "",
             f"| {x_name} | " + " | ".join(plain_label(grid, y) if grid.y_field else "accuracy" for y in ys) + " |",
             "| ---: |" + " ---: |" * len(ys)]
    for x in grid.xs():
        shown = format(x, "g") if isinstance(x, float) else x
        lines.append(f"| {shown} | " + " | ".join(_cell_text(grid.point(x, y)) for y in ys) + " |")
    return "\n".join(lines) + "\n"


def figure2_plot(grid: SweepGrid, title: str):
    """Accuracy against the x axis (α), one line per y value (K), error bars one std."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 4.0), dpi=150, layout="constrained")
    axes = figure.add_subplot()
    numeric = all(_sort_key(x)[0] == 0 for x in grid.xs())
    positions = {x: (float(x) if numeric else i) for i, x in enumerate(grid.xs())}
    for y in grid.ys():
        line = [(x, grid.point(x, y)) for x in grid.xs()]
        line = [(x, p) for x, p in line if p is not None and p.mean is not None]
        if line:
            axes.errorbar([positions[x] for x, _ in line], [p.mean for _, p in line],
                          yerr=[p.std or 0.0 for _, p in line], marker="o", capsize=3,
                          label=y_label(grid, y) if grid.y_field else None)
    if not numeric:
        axes.set_xticks(list(positions.values()), [str(x) for x in positions])
    axes.set_xlabel(grid.label(grid.x_field))
    axes.set_ylabel(f"{grid.metric} test accuracy (%)")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    if grid.y_field:
        axes.legend(frameon=False)
    return figure


def figure3_counts(dataset_loader, variants: list[str], split: str = "train") -> dict[str, dict[str, int]]:
    """Label-pair counts (Figure 3's names) of each NLI variant's ``split``."""
    from ..data import dataset_stats

    return {variant: dataset_stats(dataset_loader(variant))["splits"][split]["label_pairs_unordered"]
            for variant in variants}


def figure3_plot(counts: dict[str, dict[str, int]], title: str):
    """Grouped bars: label-pair counts per variant."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 4.0), dpi=150, layout="constrained")
    axes = figure.add_subplot()
    variants = list(counts)
    pairs = list(next(iter(counts.values()))) if counts else []
    width = 0.8 / max(len(pairs), 1)
    for i, pair in enumerate(pairs):
        xs = [v + (i - (len(pairs) - 1) / 2) * width for v in range(len(variants))]
        bars = axes.bar(xs, [counts[v][pair] for v in variants], width, label=pair)
        axes.bar_label(bars, fontsize=7)
    axes.set_xticks(range(len(variants)), variants)
    axes.set_ylabel("revision pairs")
    axes.set_title(title, fontsize=10)
    top = max((n for row in counts.values() for n in row.values()), default=1)
    axes.set_ylim(0, top * 1.3)  # room for the legend above the bars
    axes.legend(frameon=False, loc="upper center", ncol=len(pairs), fontsize=8)
    return figure


def counts_csv(counts: dict[str, dict[str, int]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    pairs = list(next(iter(counts.values()))) if counts else []
    writer.writerow(["variant", *pairs])
    for variant, row in counts.items():
        writer.writerow([variant, *(row[p] for p in pairs)])
    return out.getvalue()


def save_figure(figure, out: Path, stem: str) -> list[Path]:
    """``stem``.png and .svg in the folder ``out``."""
    paths = []
    try:
        for suffix in (".png", ".svg"):
            path = out / f"{stem}{suffix}"
            figure.savefig(path)
            paths.append(path)
    except OSError as exc:
        raise CastError(f"cannot write the figure to {out}: {exc.strerror or exc}") from exc
    return paths
