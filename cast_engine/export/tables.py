"""Results tables: completed runs grouped over seeds, as CSV, Markdown or LaTeX.

Runs whose configs are equal once the seed and the name are left out form
one group; a row shows the group's method, regime, variant, task and model,
the settings that tell the groups apart (e.g. ``alpha``, ``k``), the number of
seeds and the mean and sample standard deviation (ddof=1) of one test
accuracy in percent. This module imports neither torch nor Qt.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..config import flatten_config
from ..errors import CastError, ConfigError

METRICS = ("combined", "factual", "counterfactual", "pair")
ID_COLUMNS = ("method", "regime", "variant", "task", "model")
#: Config keys that do not change what a run measures: left out of the grouping.
IGNORED_KEYS = ("name", "train.seed", "train.device", "train.log_every", "train.eval_batch_size")
#: Config keys already shown by the ID_COLUMNS.
SHOWN_KEYS = ("method.name", "regime", "model", "data.task", "data.variant")
MISSING = "–"


class SeedStats:
    """Mean and sample std of ``self.values`` (one number per seed), as every results table shows them."""

    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        """None when no seed has completed."""
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation (ddof=1); None for fewer than two seeds."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None


@dataclass
class TableRow(SeedStats):
    """One group of runs that differ only by seed."""

    method: str
    regime: str
    variant: str
    task: str
    model: str
    settings: dict[str, Any]
    values: list[float]
    run_ids: list[int]


@dataclass
class ResultsTable:
    """Rows of grouped results and the setting columns that differ between them."""

    metric: str
    setting_keys: list[str] = field(default_factory=list)
    rows: list[TableRow] = field(default_factory=list)

    @property
    def caption(self) -> str:
        return f"{self.metric} test accuracy (%), mean ± std over seeds"

    def setting_labels(self) -> list[str]:
        """Short column names: the last dotted part unless two keys share it."""
        tails = [key.rsplit(".", 1)[-1] for key in self.setting_keys]
        return [tail if tails.count(tail) == 1 else key for key, tail in zip(self.setting_keys, tails)]


# ------------------------------------------------------------------ configs

def config_diff(configs: list[dict | None]) -> dict[str, list[Any]]:
    """The dotted keys whose values differ between configs, each with one value per
    config (None where a config lacks the key), in sorted key order."""
    flats = [flatten_config(config) for config in configs]
    keys = sorted(set().union(*flats)) if flats else []
    diff = {}
    for key in keys:
        values = [flat.get(key) for flat in flats]
        present = [flat.get(key, _Absent) for flat in flats]
        if any(value != present[0] for value in present[1:]):
            diff[key] = values
    return diff


class _Absent:
    """Marks a key a config lacks (distinct from a stored None)."""


# ------------------------------------------------------------------ grouping

def results_table(runs: Iterable[dict], metric: str = "combined") -> ResultsTable:
    """Group completed runs over seeds and summarise ``metric`` in percent."""
    if metric not in METRICS:
        raise ConfigError(f"metric = {metric!r} is not one of {', '.join(METRICS)}")
    groups: dict[tuple, TableRow] = {}
    settings_of: dict[tuple, dict[str, Any]] = {}
    for run in runs:
        value = _metric_value(run, metric)
        if value is None:
            continue
        settings = _group_settings(run)
        key = (*_identity(run), _frozen(settings))
        if key not in groups:
            groups[key] = TableRow(*_identity(run), settings={}, values=[], run_ids=[])
            settings_of[key] = settings
        groups[key].values.append(value)
        groups[key].run_ids.append(run["id"])
    setting_keys = _differing_keys(list(settings_of.values()))
    for key, row in groups.items():
        row.settings = {name: settings_of[key].get(name) for name in setting_keys}
    rows = sorted(groups.values(), key=_row_order)
    return ResultsTable(metric, setting_keys, rows)


def _metric_value(run: dict, metric: str) -> float | None:
    """The run's test ``metric`` in percent, or None if it did not complete with one."""
    if run.get("status") != "completed":
        return None
    value = (run.get("results") or {}).get(metric)
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return 100.0 * float(value)


def _identity(run: dict) -> tuple[str, str, str, str, str]:
    """method, regime, variant, task, model of a run as text."""
    return tuple(str(run.get(column) or "") for column in ID_COLUMNS)  # type: ignore[return-value]


def _group_settings(run: dict) -> dict[str, Any]:
    """The run's flattened config without seed, name and the identity keys."""
    flat = flatten_config(run.get("config"))
    return {k: v for k, v in flat.items() if k not in IGNORED_KEYS and k not in SHOWN_KEYS}


def group_by_sql() -> str:
    """The grouping of ``results_table`` as a SQL GROUP BY list over the runs table: the identity
    columns, and the config without the keys ``_group_settings`` leaves out. Configs are stored
    with sorted keys, so equal settings give equal text; a damaged config groups as an empty one."""
    identity = ", ".join(f"coalesce({column}, '')" for column in ID_COLUMNS)
    paths = ", ".join(f"'$.{key}'" for key in (*IGNORED_KEYS, *SHOWN_KEYS))
    return f"{identity}, CASE WHEN json_valid(config) THEN json_remove(config, {paths}) ELSE '{{}}' END"


def _frozen(settings: dict[str, Any]) -> tuple:
    """A hashable form of a settings dict."""
    return tuple(sorted((key, repr(value)) for key, value in settings.items()))


def _differing_keys(all_settings: list[dict[str, Any]]) -> list[str]:
    """Keys whose value differs among the groups that have them."""
    keys = sorted(set().union(*all_settings)) if all_settings else []
    differing = []
    for key in keys:
        values = {repr(settings[key]) for settings in all_settings if key in settings}
        if len(values) > 1:
            differing.append(key)
    return differing


def _row_order(row: TableRow) -> tuple:
    return (row.task, row.variant, row.model, row.regime, row.method,
            tuple(_sortable(v) for v in row.settings.values()))


def _sortable(value: Any) -> tuple:
    """Numbers before text, numbers by value, everything else by its text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, "" if value is None else str(value))


# ------------------------------------------------------------------ formats

def format_value(value: Any) -> str:
    """A setting as short text: 0.05, 1e-05, 9.1%, – for a missing one."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def mean_std_text(row: SeedStats, std_missing: str = MISSING, pm: str = "±") -> str:
    """'85.3 ± 1.2' with one decimal; the std is ``std_missing`` for one seed."""
    std = std_missing if row.std is None else f"{row.std:.1f}"
    return f"{row.mean:.1f} {pm} {std}"


def _header(table: ResultsTable) -> list[str]:
    return [*ID_COLUMNS, *table.setting_labels(), "n"]


def _cells(table: ResultsTable, row: TableRow) -> list[str]:
    ids = [row.method, row.regime, row.variant, row.task, row.model]
    return [*ids, *(format_value(row.settings[key]) for key in table.setting_keys), str(row.n)]


def to_csv(table: ResultsTable) -> str:
    """CSV with full-precision mean and std (empty std for one seed) and the run ids."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*_header(table), f"{table.metric}_mean", f"{table.metric}_std", "run_ids"])
    for row in table.rows:
        std = "" if row.std is None else f"{row.std:.4f}"
        writer.writerow([*_cells(table, row), f"{row.mean:.4f}", std, " ".join(map(str, row.run_ids))])
    return out.getvalue()


def to_markdown(table: ResultsTable) -> str:
    """A caption line and a pipe table; the last column is 'mean ± std'."""
    header = [*_header(table), f"{table.metric} (%)"]
    lines = [f"{table.caption[0].upper()}{table.caption[1:]}.", "",
             _md_line(header), _md_line(["---"] * (len(header) - 2) + ["---:", "---:"])]
    for row in table.rows:
        lines.append(_md_line([*_cells(table, row), mean_std_text(row)]))
    return "\n".join(lines) + "\n"


def _md_line(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def to_latex(table: ResultsTable) -> str:
    """A booktabs table with a caption naming the accuracy shown."""
    header = [*_header(table), f"{table.metric} (\\%)"]
    align = "l" * (len(header) - 2) + "rr"
    caption = latex_escape(table.caption).replace("±", "$\\pm$")
    lines = ["\\begin{table}[t]", "\\centering",
             f"\\caption{{{caption[0].upper()}{caption[1:]}.}}",
             f"\\begin{{tabular}}{{{align}}}", "\\toprule",
             " & ".join(latex_escape(h) if i < len(header) - 1 else h for i, h in enumerate(header)) + " \\\\",
             "\\midrule"]
    for row in table.rows:
        cells = [latex_escape(cell) for cell in _cells(table, row)]
        cells.append(mean_std_text(row, std_missing="--", pm="$\\pm$"))
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  MISSING: "--"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


WRITERS = {".csv": to_csv, ".md": to_markdown, ".markdown": to_markdown, ".tex": to_latex}


def write_table(table: ResultsTable, path: str | Path) -> Path:
    """Write ``table`` in the format its extension names (.csv, .md, .tex)."""
    path = Path(path).expanduser()
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise ConfigError(f"{path.name}: unknown table format {path.suffix or '(no extension)'!r}; "
                          "use .csv, .md or .tex")
    return write_text(path, writer(table))


def write_text(path: str | Path, text: str) -> Path:
    """Write a UTF-8 text file; CastError naming the path if that fails."""
    path = Path(path).expanduser()
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CastError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
