"""The run store: one SQLite file holding runs, their epochs and their masks.

Concurrency model
-----------------
The file is opened in WAL mode with ``busy_timeout=30000``: any number of
readers run beside one writer, and a writer waits (up to 30 s) for another
instead of failing with "database is locked". Every write is one short
``BEGIN IMMEDIATE`` transaction, so a process that dies mid-run leaves only
committed rows behind.

Threads: a ``RunStore`` holds a single sqlite3 connection, which may only be
used from the thread that opened it (sqlite3's ``check_same_thread``). Open one
``RunStore`` per thread (the studio's GUI thread and each worker thread get
their own); several stores on the same file are safe, in one process or many.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import platformdirs
from sqlite_utils import Database

from cast_engine.errors import StoreError
from cast_engine.store.evaluations import EvaluationTables
from cast_engine.store.migrations import apply_migrations
from cast_engine.store.sweeps import SweepTables

RUN_STATUSES = ("running", "completed", "failed", "cancelled", "interrupted")
RESUMABLE_STATUSES = ("interrupted", "cancelled", "failed")
MASK_FILE = "mask.safetensors"  # a CAST/LT-SFT run's final mask as packed bits (cast_engine.sparse.mask_file)
CHECKPOINT_FILE = "checkpoint.pt"  # a run's epoch checkpoint, in its artifact folder (cast_engine.train.checkpoint)
FINAL_STATUSES = tuple(status for status in RUN_STATUSES if status != "running")

JSON_COLUMNS = {
    "runs": ("config", "versions", "data_hashes", "results"),
    "epochs": ("metrics",),
    "masks": ("per_layer",),
}
EPOCH_COLUMNS = (
    "train_loss",
    "lr",
    "elapsed_s",
    "val_factual",
    "val_counterfactual",
    "val_combined",
    "val_pair",
)
_EPOCH_RESERVED_KEYS = ("id", "run_id", "epoch", "stage", "metrics")
_RUN_FILTERS = ("method", "task", "variant", "regime", "model", "seed", "status", "sweep_id")
_BUSY_TIMEOUT_MS = 30000


def default_db_path() -> Path:
    """Return ``$CAST_DB`` if set, else ``<user data dir>/cast-studio/runs.sqlite``."""
    from_env = os.environ.get("CAST_DB")
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_data_dir("cast-studio")) / "runs.sqlite"


def default_run_name(method: str, task: str, variant: str, regime: str, seed: int) -> str:
    """The name a run gets when none is given: ``cast-nli-RH1-cad-seed1``."""
    return f"{method}-{task}-{variant}-{regime}-seed{seed}"


def utc_now() -> str:
    """Current time as ISO-8601 UTC text, e.g. ``2025-01-31T12:00:00.000000+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _normalize_since(since: str) -> str:
    """Turn an ISO-8601 date or time (naive = UTC) into the stored text format."""
    try:
        moment = datetime.fromisoformat(since)
    except (TypeError, ValueError):
        raise StoreError(f"since={since!r} is not an ISO-8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _json_default(value: Any) -> Any:
    """Make numpy/torch scalars and arrays, paths and sets JSON-encodable."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _to_json(value: Any, what: str) -> str | None:
    """Encode ``value`` as JSON text; None stays NULL."""
    if value is None:
        return None
    try:
        return json.dumps(value, default=_json_default, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} cannot be stored as JSON: {exc}") from None


def _from_json(text: str | None) -> Any:
    """Decode JSON text; NULL stays None."""
    return None if text is None else json.loads(text)


def _to_number(value: Any, what: str) -> float | None:
    """Turn a metric value (float, int, numpy/torch scalar) into a float or None."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise StoreError(f"{what}={value!r} is not a number") from None


def _to_sql_value(value: Any, what: str) -> Any:
    """Dicts, lists and tuples become JSON text; scalars go in as they are."""
    if isinstance(value, (dict, list, tuple)):
        return _to_json(value, what)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _check_int(value: Any, what: str) -> int:
    """Accept a real int (not a bool) or raise StoreError naming the value."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreError(f"{what} must be an integer, got {value!r}")
    return value


def _check_status(status: str, allowed: tuple[str, ...] = RUN_STATUSES) -> str:
    """Refuse a status outside ``allowed``."""
    if status not in allowed:
        raise StoreError(f"unknown run status {status!r}; expected one of {', '.join(allowed)}")
    return status


def pid_is_alive(pid: int) -> bool:
    """True while process ``pid`` exists on this machine (zombies count as ended)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_is_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """On Linux, True when ``pid`` has exited but was not yet reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()
    return bool(state) and state[0] in ("Z", "X")


def _windows_pid_is_alive(pid: int) -> bool:
    """Windows check (os.kill(pid, 0) would send CTRL_C_EVENT there)."""
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    process_query_limited_information = 0x1000
    still_active = 259
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        access_denied = 5
        return kernel32.GetLastError() == access_denied
    try:
        exit_code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(exit_code)):
            return True
        return exit_code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


def _open_connection(path: Path) -> sqlite3.Connection:
    """Create the parent folder and connect; StoreError naming the path on failure."""
    if path.is_dir():
        raise StoreError(f"cannot open run store {path}: it is a folder, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        cause = exc.strerror or exc
        raise StoreError(
            f"cannot open run store {path}: cannot create folder {path.parent} ({cause})"
        ) from exc
    if not path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot open run store {path}: folder {path.parent} is not writable")
    try:
        return sqlite3.connect(str(path), timeout=_BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open run store {path}: {exc}") from exc


def _configure(db: Database, path: Path) -> None:
    """Set busy timeout, WAL journal, synchronous=NORMAL and foreign keys."""
    db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        warnings.warn(
            f"run store {path}: journal_mode is {mode!r}, not 'wal'; "
            "concurrent writers may wait longer",
            stacklevel=3,
        )
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")


class RunStore(SweepTables, EvaluationTables):
    """Runs, per-epoch metrics and sparsity masks in one SQLite file.

    ``RunStore(path=None)`` opens (and creates) ``path`` or ``default_db_path()``,
    applies pending schema migrations and marks runs whose process has ended as
    interrupted. Use it from the thread that opened it only (see module doc).
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self._owner_thread = threading.get_ident()
        self._db: Database | None = None
        conn = _open_connection(self.path)
        try:
            self._db = Database(conn)
            _configure(self._db, self.path)
            apply_migrations(self._db)
        except (sqlite3.Error, OSError) as exc:
            conn.close()
            self._db = None
            raise StoreError(f"cannot open run store {self.path}: {exc}") from exc
        try:
            self.mark_interrupted()
        except BaseException:
            self.close()
            raise

    # -- lifetime -------------------------------------------------------

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._db is None else "open"
        return f"RunStore({str(self.path)!r}, {state})"

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        if self._db is None:
            return
        self._check_thread()
        self._db.close()
        self._db = None

    @property
    def db(self) -> Database:
        """The underlying sqlite-utils Database (same-thread use only)."""
        return self._database()

    def _check_thread(self) -> None:
        """Refuse use from a thread other than the opening one, with a clear message."""
        current = threading.get_ident()
        if current != self._owner_thread:
            raise StoreError(
                f"run store {self.path} was opened in thread {self._owner_thread} and used "
                f"from thread {current}; open one RunStore per thread"
            )

    def _database(self) -> Database:
        """The open Database, after the closed and thread checks."""
        if self._db is None:
            raise StoreError(f"run store {self.path} is closed")
        self._check_thread()
        return self._db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short BEGIN IMMEDIATE transaction; sqlite errors become StoreError."""
        conn = self._database().conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"run store {self.path}: cannot start a write: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"run store {self.path}: write failed: {exc}") from exc
            raise

    def _read(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        """Run a SELECT and return its rows as dicts."""
        conn = self._database().conn
        try:
            cursor = conn.execute(sql, params)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        except sqlite3.Error as exc:
            raise StoreError(f"run store {self.path}: read failed: {exc}") from exc

    def _require_run(self, conn: sqlite3.Connection, run_id: int) -> dict[str, Any]:
        """Return the started_at/status of ``run_id`` or raise 'no run N in <path>'."""
        row = conn.execute("SELECT started_at, status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {run_id} in {self.path}")
        return {"started_at": row[0], "status": row[1]}

    # -- runs -----------------------------------------------------------

    def create_run(
        self,
        config: Mapping[str, Any],
        *,
        method: str,
        task: str,
        variant: str,
        regime: str,
        model: str,
        seed: int,
        name: str | None = None,
        data_hashes: Mapping[str, str] | None = None,
        versions: Mapping[str, str] | None = None,
        trainable_params: int | None = None,
        total_params: int | None = None,
        sweep_id: int | None = None,
        trial_key: str | None = None,
        fingerprint: str | None = None,
    ) -> int:
        """Insert a run with status 'running' owned by this process; return its id."""
        if not isinstance(config, Mapping):
            raise StoreError(f"config must be a dict, got {type(config).__name__}")
        now = utc_now()
        row = {
            "name": name or default_run_name(method, task, variant, regime, seed),
            "status": "running",
            "created_at": now,
            "started_at": now,
            "method": method,
            "task": task,
            "variant": variant,
            "regime": regime,
            "model": model,
            "seed": seed,
            "config": _to_json(dict(config), "config"),
            "trainable_params": trainable_params,
            "total_params": total_params,
            "versions": _to_json(versions, "versions"),
            "data_hashes": _to_json(data_hashes, "data_hashes"),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "sweep_id": sweep_id,
            "trial_key": trial_key,
            "fingerprint": fingerprint,
        }
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._write() as conn:
            cursor = conn.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", list(row.values()))
            return int(cursor.lastrowid)

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set columns of a run (dicts/lists stored as JSON); unknown columns are refused."""
        if not fields:
            return
        known = set(self._run_columns()) - {"id"}
        for field in fields:
            if field not in known:
                raise StoreError(f"runs in {self.path} has no column {field!r}")
        if "status" in fields:
            _check_status(fields["status"])
        assignments = ", ".join(f"{field} = ?" for field in fields)
        values = [_to_sql_value(value, field) for field, value in fields.items()]
        with self._write() as conn:
            self._require_run(conn, run_id)
            conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*values, run_id])

    def finish_run(
        self,
        run_id: int,
        status: str,
        *,
        reason: str | None = None,
        results: Mapping[str, Any] | None = None,
        best_epoch: int | None = None,
        wall_time_s: float | None = None,
    ) -> None:
        """Record the end of a run: final status, reason, results, finished_at, wall time.

        ``wall_time_s`` defaults to finished_at − started_at; a resumed run
        passes the time it actually trained, without the time it lay dead.
        """
        _check_status(status, FINAL_STATUSES)
        results_json = _to_json(results, "results")
        finished_at = utc_now()
        with self._write() as conn:
            started_at = self._require_run(conn, run_id)["started_at"]
            if wall_time_s is None:
                wall_time_s = _seconds_between(started_at, finished_at)
            conn.execute(
                "UPDATE runs SET status = ?, reason = ?, results = COALESCE(?, results), "
                "best_epoch = COALESCE(?, best_epoch), finished_at = ?, wall_time_s = ? "
                "WHERE id = ?",
                (status, reason, results_json, best_epoch, finished_at, wall_time_s, run_id),
            )

    def get_run(self, run_id: int) -> dict[str, Any]:
        """Return one run as a dict with JSON columns decoded."""
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise StoreError(f"no run {run_id} in {self.path}")
        return _decode(rows[0], "runs")

    def list_runs(
        self,
        *,
        method: str | None = None,
        task: str | None = None,
        variant: str | None = None,
        regime: str | None = None,
        model: str | None = None,
        seed: int | None = None,
        status: str | None = None,
        since: str | None = None,
        sweep_id: int | None = None,
        limit: int | None = None,
        order: str = "desc",
    ) -> list[dict[str, Any]]:
        """Runs matching every given filter, newest first (``order="asc"``: oldest first).

        ``since`` is an ISO-8601 date or time (naive means UTC) compared with created_at.
        """
        if status is not None:
            _check_status(status)
        if order not in ("asc", "desc"):
            raise StoreError(f"order must be 'asc' or 'desc', got {order!r}")
        given = dict(method=method, task=task, variant=variant, regime=regime, model=model,
                     seed=seed, status=status, sweep_id=sweep_id)
        clauses = [f"{column} = ?" for column in _RUN_FILTERS if given[column] is not None]
        params: list[Any] = [given[column] for column in _RUN_FILTERS if given[column] is not None]
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(_normalize_since(since))
        sql = "SELECT * FROM runs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY id {order.upper()}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(_check_int(limit, "limit"))
        return [_decode(row, "runs") for row in self._read(sql, params)]

    def reopen_run(self, run_id: int, *, epochs_kept: int, masks_kept: int) -> None:
        """Make a stopped run 'running' again in this process, to resume it from a checkpoint.

        Keeps the epoch rows up to ``epochs_kept`` and the first ``masks_kept``
        mask rows (what existed when the checkpoint was written); the rest,
        and any test predictions, are deleted so the resumed run writes them
        once. Refuses runs that are running or completed.
        """
        with self._write() as conn:
            status = self._require_run(conn, run_id)["status"]
            if status not in RESUMABLE_STATUSES:
                raise StoreError(f"run {run_id} in {self.path} is {status}; only "
                                 f"{', '.join(RESUMABLE_STATUSES)} runs can be resumed")
            conn.execute("DELETE FROM epochs WHERE run_id = ? AND epoch > ?", (run_id, epochs_kept))
            conn.execute("DELETE FROM masks WHERE run_id = ? AND id NOT IN "
                         "(SELECT id FROM masks WHERE run_id = ? ORDER BY id LIMIT ?)", (run_id, run_id, masks_kept))
            conn.execute("DELETE FROM predictions WHERE run_id = ?", (run_id,))
            conn.execute("UPDATE runs SET status = 'running', reason = NULL, finished_at = NULL, "
                         "wall_time_s = NULL, pid = ?, host = ? WHERE id = ?",
                         (os.getpid(), socket.gethostname(), run_id))

    def delete_run(self, run_id: int) -> None:
        """Delete a run with its epochs, masks, predictions, evaluations, epoch checkpoint and mask file.

        The checkpoint (gigabytes for a large model) can only resume this run,
        so it goes too; saved model files in the artifact folder are left on disk.
        """
        with self._write() as conn:
            self._require_run(conn, run_id)
            folder = conn.execute("SELECT artifact_dir FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
            conn.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM masks WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM predictions WHERE run_id = ?", (run_id,))
            self._delete_run_evaluations(conn, run_id)
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        if folder:
            for name in (CHECKPOINT_FILE, CHECKPOINT_FILE + ".partial", MASK_FILE):
                (Path(folder) / name).unlink(missing_ok=True)

    def artifact_dir(self, run_id: int) -> Path:
        """``<db folder>/artifacts/<run_id>``, created (and recorded on the run) on demand."""
        folder = self.path.parent / "artifacts" / str(run_id)
        with self._write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                "UPDATE runs SET artifact_dir = ? WHERE id = ? AND artifact_dir IS NULL",
                (str(folder), run_id),
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create artifact folder {folder}: {exc.strerror or exc}") from exc
        return folder

    def mark_interrupted(self) -> list[int]:
        """Mark this host's 'running' runs whose process is gone as 'interrupted'.

        Runs of other hosts are left alone (their pids mean nothing here).
        Returns the ids that were marked.
        """
        host = socket.gethostname()
        candidates = self._read(
            "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", (host,)
        )
        dead = [row for row in candidates if row["pid"] is None or not pid_is_alive(row["pid"])]
        if not dead:
            return []
        marked = []
        now = utc_now()
        with self._write() as conn:
            for row in dead:
                reason = (
                    f"process {row['pid']} ended without finishing "
                    f"(found gone on host {host} at {now})"
                )
                cursor = conn.execute(
                    "UPDATE runs SET status = 'interrupted', reason = ?, finished_at = ? "
                    "WHERE id = ? AND status = 'running'",
                    (reason, now, row["id"]),
                )
                if cursor.rowcount:
                    marked.append(row["id"])
        return marked

    def _run_columns(self) -> list[str]:
        """Column names of the runs table as it is now (migrations may add some)."""
        return [row["name"] for row in self._read("SELECT name FROM pragma_table_info('runs')")]

    # -- epochs and masks -----------------------------------------------

    def add_epoch(self, run_id: int, epoch: int, stage: str, metrics: Mapping[str, Any]) -> None:
        """Record the metrics of one (epoch, stage); upsert on (run_id, epoch, stage).

        Keys named in ``EPOCH_COLUMNS`` go into their columns, every other key
        into the JSON ``metrics`` column. Writing the same (epoch, stage) again
        overwrites the keys given and keeps the others.
        """
        _check_int(epoch, "epoch")
        if not isinstance(stage, str) or not stage:
            raise StoreError(f"stage must be a non-empty string, got {stage!r}")
        columns, extras = _split_metrics(metrics)
        with self._write() as conn:
            self._require_run(conn, run_id)
            existing = conn.execute(
                "SELECT metrics FROM epochs WHERE run_id = ? AND epoch = ? AND stage = ?",
                (run_id, epoch, stage),
            ).fetchone()
            if existing is None:
                self._insert_epoch(conn, run_id, epoch, stage, columns, extras)
            else:
                merged = {**(_from_json(existing[0]) or {}), **extras}
                self._update_epoch(conn, run_id, epoch, stage, columns, merged)

    def _insert_epoch(self, conn, run_id, epoch, stage, columns, extras) -> None:
        """Insert a new epochs row."""
        names = ["run_id", "epoch", "stage", *columns, "metrics"]
        values = [run_id, epoch, stage, *columns.values(), _to_json(extras, "metrics")]
        marks = ", ".join("?" for _ in names)
        conn.execute(f"INSERT INTO epochs ({', '.join(names)}) VALUES ({marks})", values)

    def _update_epoch(self, conn, run_id, epoch, stage, columns, extras) -> None:
        """Overwrite the given columns and the merged JSON of an existing epochs row."""
        assignments = [f"{name} = ?" for name in columns] + ["metrics = ?"]
        values = [*columns.values(), _to_json(extras, "metrics"), run_id, epoch, stage]
        conn.execute(
            f"UPDATE epochs SET {', '.join(assignments)} WHERE run_id = ? AND epoch = ? AND stage = ?",
            values,
        )

    def epochs(self, run_id: int) -> list[dict[str, Any]]:
        """Epoch rows of a run ordered by epoch, JSON extras merged into each dict."""
        rows = self._read(
            "SELECT * FROM epochs WHERE run_id = ? ORDER BY epoch, id", (run_id,)
        )
        result = []
        for row in rows:
            extras = _from_json(row.pop("metrics")) or {}
            row.pop("id")
            result.append({**row, **extras})
        return result

    def add_mask(
        self,
        run_id: int,
        epoch: int,
        kept: int,
        eligible: int,
        jaccard: float | None,
        per_layer: Mapping[str, Any],
    ) -> None:
        """Record a sparsity mask summary: kept of eligible, Jaccard to the previous mask,
        and ``per_layer`` {layer: [kept, total]} (JSON, so layer keys come back as text)."""
        with self._write() as conn:
            self._require_run(conn, run_id)
            self._insert_mask(conn, run_id, epoch, kept, eligible, jaccard, per_layer)

    def _insert_mask(self, conn, run_id, epoch, kept, eligible, jaccard, per_layer) -> None:
        """Check and insert one masks row (inside a write)."""
        _check_int(epoch, "epoch")
        values = (
            run_id,
            epoch,
            _check_int(_to_sql_value(kept, "kept"), "kept"),
            _check_int(_to_sql_value(eligible, "eligible"), "eligible"),
            _to_number(jaccard, "jaccard"),
            _to_json(dict(per_layer), "per_layer"),
        )
        conn.execute(
            "INSERT INTO masks (run_id, epoch, kept, eligible, jaccard, per_layer) VALUES (?, ?, ?, ?, ?, ?)",
            values,
        )

    def masks(self, run_id: int) -> list[dict[str, Any]]:
        """Mask rows of a run in epoch (then insertion) order, per_layer decoded."""
        rows = self._read("SELECT * FROM masks WHERE run_id = ? ORDER BY epoch, id", (run_id,))
        return [_decode(row, "masks") for row in rows]


def _split_metrics(metrics: Mapping[str, Any]) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Split metrics into named epoch columns and JSON extras; refuse reserved keys."""
    if not isinstance(metrics, Mapping):
        raise StoreError(f"metrics must be a dict, got {type(metrics).__name__}")
    columns: dict[str, float | None] = {}
    extras: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in _EPOCH_RESERVED_KEYS:
            raise StoreError(f"metrics key {key!r} is reserved; rename it")
        if key in EPOCH_COLUMNS:
            columns[key] = _to_number(value, key)
        else:
            extras[str(key)] = value
    return columns, extras


def _decode(row: dict[str, Any], table: str) -> dict[str, Any]:
    """Decode the JSON columns of a row of ``table`` in place and return it."""
    for column in JSON_COLUMNS[table]:
        if column in row:
            row[column] = _from_json(row[column])
    return row


def _seconds_between(start: str | None, end: str) -> float | None:
    """Seconds from ISO text ``start`` to ``end``; None if start is missing or unreadable."""
    if not start:
        return None
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None
