"""The run table as SQL: the columns a run list shows, filtered, sorted and paged by SQLite.

History (studio) and ``cast runs`` (CLI) list runs from stores of any size, so
nothing here reads a whole run: ``run_ids`` returns the ordered ids of the
matching runs (one small integer each), and ``run_rows`` fetches the columns of
a few runs by id, the ones on screen. Every column is a SQL expression, so
sorting and filtering happen in SQLite; values from the JSON ``config`` and
``results`` columns come out through ``json_extract``.

The functions take a ``sqlite3.Connection`` and only read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cast_engine.errors import StoreError


@dataclass(frozen=True)
class RunColumn:
    """One column of the run table: what it shows and the SQL expression that computes it."""

    key: str
    title: str
    sql: str
    numeric: bool = False
    tip: str = ""
    shown: bool = True  # shown unless the user chooses otherwise
    nullable: bool = True  # False only where SQL guarantees a value (lets the id order use the table's own order)


def _result(metric: str) -> str:
    return f"json_extract(results, '$.{metric}')"


def _config(path: str) -> str:
    return f"json_extract(config, '$.{path}')"


RUN_COLUMNS: tuple[RunColumn, ...] = (
    RunColumn("id", "ID", "id", True, nullable=False),
    RunColumn("name", "Name", "name"),
    RunColumn("status", "Status", "status", nullable=False),
    RunColumn("method", "Method", "method"),
    RunColumn("task", "Task", "task"),
    RunColumn("variant", "Variant", "variant"),
    RunColumn("regime", "Regime", "regime"),
    RunColumn("seed", "Seed", "seed", True),
    RunColumn("alpha", "α", _config("method.alpha"), True, "CAST's α: the share of the counterfactual update merged "
              "(method.alpha; empty for methods without it)"),
    RunColumn("k", "K", _config("method.k"), False, "parameters kept: CAST's mask size or LT-SFT's K "
              "(method.k; empty for other methods)"),
    RunColumn("lr", "LR", _config("train.lr"), True, "learning rate (train.lr)"),
    RunColumn("max_epochs", "Epochs", _config("train.max_epochs"), True, "most epochs (train.max_epochs)",
              shown=False),
    RunColumn("data", "Data", _config("data.data"), False, "the data the run trained on (data.data)"),
    RunColumn("train_limit", "Train limit", _config("data.train_limit"), True,
              "training examples used, 0 = all (data.train_limit)", shown=False),
    RunColumn("eval_limit", "Eval limit", _config("data.eval_limit"), True,
              "validation and test examples used, 0 = all (data.eval_limit)", shown=False),
    RunColumn("batch_size", "Batch", _config("train.batch_size"), True, "batch size (train.batch_size)", shown=False),
    RunColumn("max_length", "Max length", _config("train.max_length"), True, "token limit (train.max_length)",
              shown=False),
    RunColumn("rank", "LoRA rank", _config("method.rank"), True, "LoRA's rank, 0 = from the target share "
              "(method.rank)", shown=False),
    RunColumn("model", "Model", "model", False, "the model fine-tuned", shown=False),
    RunColumn("sweep_id", "Sweep", "sweep_id", True, "the sweep this run is a trial of (see the Sweep page)",
              shown=False),
    RunColumn("combined", "Combined", _result("combined"), True, "combined test accuracy (%)"),
    RunColumn("factual", "Factual", _result("factual"), True, "factual test accuracy (%)"),
    RunColumn("counterfactual", "Counterf.", _result("counterfactual"), True, "counterfactual test accuracy (%)"),
    RunColumn("pair", "Pair", _result("pair"), True, "pair test accuracy (%): both examples of a pair right"),
    RunColumn("trainable_params", "Trainable", "trainable_params", True,
              "trainable parameters (share of all parameters)"),
    RunColumn("train_examples", "Examples", "json_extract(runs.results, '$.train_examples')", True,
              "training examples processed: forward and backward passes (CAST's two passes count twice)"),
    RunColumn("train_time_s", "Train time", "json_extract(runs.results, '$.train_time_s')", True,
              "time spent in training passes (no evaluation, no saving)", shown=False),
    RunColumn("started_at", "Started", "started_at", False, "start time (local)"),
    RunColumn("wall_time_s", "Wall time", "wall_time_s", True, shown=False),
)
RUN_COLUMN = {column.key: column for column in RUN_COLUMNS}
#: Fetched with every row besides the columns: what tooltips and cell texts need.
EXTRA_FIELDS = ("total_params", "reason")
#: Columns whose text sorts case-insensitively.
_TEXT_SORT = ("name", "k")  # sorted without case (their indexes are); the other text columns hold fixed names
#: Columns a filter can ask to equal a value.
EQUAL_FILTERS = ("method", "task", "variant", "regime", "model", "status", "sweep_id")


@dataclass
class RunFilter:
    """Which runs to list: equal values (None = any), a start time and a piece of the name."""

    equal: dict[str, Any] = field(default_factory=dict)
    started_since: str | None = None  # stored ISO text (UTC); runs started at or after it
    name_contains: str = ""
    evaluation: str | None = None  # accuracy columns from the run's evaluation of this name (None: its test split)

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause (with its leading keyword, or '') and its parameters."""
        clauses, params = [], []
        for key, value in self.equal.items():
            if key not in EQUAL_FILTERS:
                raise StoreError(f"cannot filter runs by {key!r}; filters: {', '.join(EQUAL_FILTERS)}")
            if value is not None:
                clauses.append(f"{key} = ?")
                params.append(value)
        if self.started_since:
            clauses.append("started_at >= ?")
            params.append(self.started_since)
        if self.name_contains:
            clauses.append("instr(lower(name), ?) > 0")
            params.append(self.name_contains.lower())
        return (" WHERE " + " AND ".join(clauses) if clauses else "", params)


def _read(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the runs table: {exc}") from exc


def column_sql(column: RunColumn, evaluation: str | None = None) -> str:
    """The column's SQL expression; with ``evaluation``, accuracies come from the run's
    evaluation of that name (empty where the run has none) instead of its own test split."""
    if evaluation is None or not column.sql.startswith("json_extract(results,"):
        return column.sql
    name = "'" + evaluation.replace("'", "''") + "'"  # a literal: one expression serves SELECT, WHERE and ORDER BY
    source = f"(SELECT e.results FROM evaluations e WHERE e.run_id = runs.id AND e.name = {name})"
    return column.sql.replace("json_extract(results,", f"json_extract({source},", 1)


def order_by(key: str, descending: bool = True, evaluation: str | None = None) -> str:
    """ORDER BY for a column: numbers as numbers, names without case, empty values last in
    either direction, ties by id in the same direction. SQLite sorts NULL lowest, so a
    descending order puts empty values last by itself (and can read the column's index)."""
    if key not in RUN_COLUMN:
        raise StoreError(f"cannot sort runs by {key!r}; columns: {', '.join(RUN_COLUMN)}")
    direction = "DESC" if descending else "ASC"
    if key == "id":
        return f" ORDER BY id {direction}"
    column = RUN_COLUMN[key]
    empty_last = f"{column_sql(column, evaluation)} IS NULL, " if column.nullable and not descending else ""
    return f" ORDER BY {empty_last}{_sort_expression(key, evaluation)} {direction}, id {direction}"


def _sort_expression(key: str, evaluation: str | None = None) -> str:
    sql = column_sql(RUN_COLUMN[key], evaluation)
    return f"{sql} COLLATE NOCASE" if key in _TEXT_SORT else sql


def count_runs(conn: sqlite3.Connection, where: RunFilter | None = None) -> int:
    """How many runs match ``where`` (all runs without it)."""
    clause, params = (where or RunFilter()).where()
    return _read(conn, f"SELECT count(*) FROM runs{clause}", params)[0][0]


def run_ids(conn: sqlite3.Connection, where: RunFilter | None = None, sort: str = "id", descending: bool = True,
            limit: int | None = None, offset: int = 0) -> list[int]:
    """Ids of the runs matching ``where`` in the table's order (``limit``/``offset`` for one page).

    All ids are read so that SQLite can answer from a narrow index rather than
    the wide runs table (its rows hold the configs): in id order the ids come
    unordered from the smallest covering index and are sorted here (plain ints,
    nearly in order already); in ascending order of a column, the runs with a
    value and those without come from two queries that can each follow the
    column's index (``ORDER BY x IS NULL`` could not)."""
    where = where or RunFilter()
    clause, params = where.where()
    order_by(sort, descending)  # refuses an unknown column
    page = " LIMIT ? OFFSET ?" if limit is not None else ""
    page_params = [limit, offset] if limit is not None else []
    column, direction = RUN_COLUMN[sort], "DESC" if descending else "ASC"
    if sort == "id" and limit is None:
        ids = [row[0] for row in _read(conn, f"SELECT id FROM runs{clause}", params)]
        ids.sort(reverse=descending)
        return ids
    expression = "id" if sort == "id" else _sort_expression(sort, where.evaluation)
    sort_sql = column_sql(column, where.evaluation)
    then = "" if sort == "id" else f", id {direction}"
    if descending or not column.nullable:
        sql = f"SELECT id FROM runs{clause} ORDER BY {expression} {direction}{then}{page}"
        return [row[0] for row in _read(conn, sql, [*params, *page_params])]
    joined = " AND " if clause else " WHERE "
    with_value = [row[0] for row in _read(conn, f"SELECT id FROM runs{clause}{joined}{sort_sql} IS NOT NULL "
                                                f"ORDER BY {expression} ASC, id ASC{page}", [*params, *page_params])]
    if limit is not None:
        if len(with_value) == limit:
            return with_value
        skipped = max(0, offset - _count_where(conn, f"{clause}{joined}{sort_sql} IS NOT NULL", params))
        page_params = [limit - len(with_value), skipped]
    without = _read(conn, f"SELECT id FROM runs{clause}{joined}{sort_sql} IS NULL ORDER BY id ASC{page}",
                    [*params, *page_params])
    return with_value + [row[0] for row in without]


def _count_where(conn: sqlite3.Connection, clause: str, params: Sequence[Any]) -> int:
    return _read(conn, f"SELECT count(*) FROM runs{clause}", params)[0][0]


def run_rows(conn: sqlite3.Connection, ids: Sequence[int], keys: Iterable[str] | None = None,
             evaluation: str | None = None) -> dict[int, dict]:
    """The columns (``keys``; all by default) and ``EXTRA_FIELDS`` of the runs ``ids``, by id;
    ids not in the store are left out (``evaluation``: accuracies from that evaluation)."""
    names = [*(keys or RUN_COLUMN), *EXTRA_FIELDS]
    columns = ", ".join(value_sql(name, evaluation) if name in RUN_COLUMN else name for name in names)
    rows: dict[int, dict] = {}
    for start in range(0, len(ids), 500):  # SQLite's limit on parameters is far above 500
        chunk = list(ids[start:start + 500])
        marks = ", ".join("?" * len(chunk))
        for row in _read(conn, f"SELECT id, {columns} FROM runs WHERE id IN ({marks})", chunk):
            rows[row[0]] = dict(zip(names, row[1:]))
    return rows


def value_sql(key: str, evaluation: str | None = None) -> str:
    """Column ``key``'s SQL for reading its values (not for sorting): a damaged JSON cell reads as empty."""
    return _tolerant(column_sql(RUN_COLUMN[key], evaluation))


def _tolerant(sql: str) -> str:
    """``sql`` reading a damaged JSON cell as empty instead of failing the whole query, so one
    bad row hides no other (for the shown values only: sorting keeps the indexed expression)."""
    for cell in ("results", "config"):
        sql = sql.replace(f"json_extract({cell},", f"json_extract(CASE WHEN json_valid({cell}) THEN {cell} END,")
    return sql


def distinct_values(conn: sqlite3.Connection, key: str) -> list[str]:
    """The distinct non-empty values of a filterable column, sorted."""
    if key not in EQUAL_FILTERS:
        raise StoreError(f"cannot list values of {key!r}; columns: {', '.join(EQUAL_FILTERS)}")
    # A loose index scan: each step asks the column's index for the next larger value, so the
    # cost grows with the number of distinct values, not with the number of runs.
    rows = _read(conn, f"WITH RECURSIVE v(x) AS (SELECT min({key}) FROM runs WHERE {key} IS NOT NULL AND {key} != '' "
                       f"UNION ALL SELECT (SELECT min({key}) FROM runs WHERE {key} > x) FROM v WHERE x IS NOT NULL) "
                       "SELECT x FROM v WHERE x IS NOT NULL")
    return sorted(str(row[0]) for row in rows)
