"""The runs, epochs and masks tables of the run store."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cast_engine.errors import StoreError
from cast_engine.store.codec import (
    check_int,
    decode_row,
    from_json_or,
    normalize_since,
    seconds_between,
    split_metrics,
    to_json,
    to_number,
    to_sql_value,
    utc_now,
)
from cast_engine.store.locks import OwnerLock, is_held
from cast_engine.store.places import run_folder, run_lock
from cast_engine.store.status import FINAL_STATUSES, RESUMABLE_STATUSES, check_status

RUN_FILTERS = ("method", "task", "variant", "regime", "model", "seed", "status", "sweep_id")


def default_run_name(method: str, task: str, variant: str, regime: str, seed: int) -> str:
    """The name a run gets when none is given: ``cast-nli-RH1-cad-seed1``."""
    return f"{method}-{task}-{variant}-{regime}-seed{seed}"


class RunTables:
    """Mixed into ``RunStore``: runs, their epochs and masks, written through ``StoreFile._write``."""

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
            "config": to_json(dict(config), "config"),
            "trainable_params": trainable_params,
            "total_params": total_params,
            "versions": to_json(versions, "versions"),
            "data_hashes": to_json(data_hashes, "data_hashes"),
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
            run_id = int(cursor.lastrowid)
            # held before the row is visible to others: no process can find it running and unowned
            self._hold(run_lock(self.path, self.store_id, run_id), f"run {run_id}")
        return run_id

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set columns of a run (dicts/lists stored as JSON); unknown columns are refused."""
        if not fields:
            return
        known = set(self._run_columns()) - {"id", "artifact_dir"}
        for field in fields:
            if field == "artifact_dir":
                raise StoreError("artifact_dir is derived from the store's location and identity; it cannot be set")
            if field not in known:
                raise StoreError(f"runs in {self.path} has no column {field!r}")
        if "status" in fields:
            check_status(fields["status"])
        assignments = ", ".join(f"{field} = ?" for field in fields)
        values = [to_sql_value(value, field) for field, value in fields.items()]
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
        check_status(status, FINAL_STATUSES)
        results_json = to_json(results, "results")
        finished_at = utc_now()
        with self._write() as conn:
            started_at = self._require_run(conn, run_id)["started_at"]
            if wall_time_s is None:
                wall_time_s = seconds_between(started_at, finished_at)
            conn.execute(
                "UPDATE runs SET status = ?, reason = ?, results = COALESCE(?, results), "
                "best_epoch = COALESCE(?, best_epoch), finished_at = ?, wall_time_s = ? "
                "WHERE id = ?",
                (status, reason, results_json, best_epoch, finished_at, wall_time_s, run_id),
            )
        self._let_go(run_lock(self.path, self.store_id, run_id))

    def get_run(self, run_id: int) -> dict[str, Any]:
        """Return one run as a dict with JSON columns decoded."""
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise StoreError(f"no run {run_id} in {self.path}")
        return self._with_folder(decode_row(rows[0], "runs"))

    def _with_folder(self, row: dict[str, Any]) -> dict[str, Any]:
        """A run row with its artifact folder derived from this store (a stored path is never used)."""
        row["artifact_dir"] = str(run_folder(self.path, self.store_id, row["id"])) if self.store_id else None
        return row

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
            check_status(status)
        if order not in ("asc", "desc"):
            raise StoreError(f"order must be 'asc' or 'desc', got {order!r}")
        given = dict(method=method, task=task, variant=variant, regime=regime, model=model,
                     seed=seed, status=status, sweep_id=sweep_id)
        clauses = [f"{column} = ?" for column in RUN_FILTERS if given[column] is not None]
        params: list[Any] = [given[column] for column in RUN_FILTERS if given[column] is not None]
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(normalize_since(since))
        sql = "SELECT * FROM runs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY id {order.upper()}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(check_int(limit, "limit"))
        return [self._with_folder(decode_row(row, "runs")) for row in self._read(sql, params)]

    def reopen_run(self, run_id: int, *, epochs_kept: int, masks_kept: int) -> None:
        """Make a stopped run 'running' again in this process, to resume it from a checkpoint.

        Keeps the epoch rows up to ``epochs_kept`` and the first ``masks_kept``
        mask rows (what existed when the checkpoint was written); the rest,
        and any test predictions, are deleted so the resumed run writes them
        once. Refuses runs that are running or completed, and a run whose lock another
        process holds (it is being resumed there).
        """
        lock = run_lock(self.path, self.store_id, run_id)
        self._hold(lock, f"run {run_id}")
        try:
            self._reopen(run_id, epochs_kept, masks_kept)
        except BaseException:
            self._let_go(lock)
            raise

    def _reopen(self, run_id: int, epochs_kept: int, masks_kept: int) -> None:
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

    def delete_run(self, run_id: int) -> Path | None:
        """Delete a run with its epochs, masks, predictions and evaluations; return its run folder.

        Files in the folder are left alone: the run layer decides which go
        (``cast_engine.runs.folders.delete_run`` removes the checkpoint). A running
        run is refused: whether it runs is asked of its lock inside the deleting
        transaction, so a run started or resumed meanwhile is never deleted.
        """
        with self._write() as conn:
            status = self._require_run(conn, run_id)["status"]
            if status == "running" and self.run_is_alive(run_id):
                raise StoreError(f"run {run_id} is running (a process holds its lock): stop it before deleting it")
            conn.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM masks WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM predictions WHERE run_id = ?", (run_id,))
            self._delete_run_evaluations(conn, run_id)
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        return run_folder(self.path, self.store_id, run_id) if self.store_id else None

    def artifact_dir(self, run_id: int, *, create: bool = True) -> Path:
        """The run's folder, ``<store file>.artifacts/<store id>/<run id>``: derived from this store's
        location and identity, never read from a row (``create=False``: only the path)."""
        if self.store_id is None:
            raise StoreError(f"run store {self.path} has no identity (it is open read-only and older than this version)")
        if not self._read("SELECT 1 FROM runs WHERE id = ?", (run_id,)):
            raise StoreError(f"no run {run_id} in {self.path}")
        folder = run_folder(self.path, self.store_id, run_id)
        if create and not self.read_only:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create artifact folder {folder}: {exc.strerror or exc}") from exc
        return folder

    # -- owners ---------------------------------------------------------

    def run_is_alive(self, run_id: int) -> bool:
        """Whether a process (this one included) holds the run's lock: it is running now."""
        path = run_lock(self.path, self.store_id, run_id)
        return str(path) in self._held or is_held(path)

    def _hold(self, path: Path, what: str) -> None:
        """Take the owner lock at ``path`` for this store object; StoreError when another owner has it."""
        if str(path) in self._held or is_held(path):
            raise StoreError(f"{what} is in use by another process (it holds {path})")
        self._held[str(path)] = OwnerLock(path, what).acquire()

    def _let_go(self, path: Path) -> None:
        lock = self._held.pop(str(path), None)
        if lock is not None:
            lock.release()

    def mark_interrupted(self) -> list[int]:
        """Mark 'running' runs whose lock no process holds as 'interrupted'; return their ids.

        The lock, not a process id, says whether a run's process lives: a reused pid
        or a host name shared by two machines cannot keep a dead run 'running'.
        """
        candidates = self._read("SELECT id, pid, host FROM runs WHERE status = 'running'")
        dead = [row for row in candidates if not self.run_is_alive(row["id"])]
        if not dead:
            return []
        marked = []
        now = utc_now()
        with self._write() as conn:
            for row in dead:
                if self.run_is_alive(row["id"]):  # taken meanwhile (a resume): asked again inside the write
                    continue
                reason = (
                    f"process {row['pid']} on {row['host']} ended without finishing "
                    f"(no process held the run's lock at {now})"
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
        check_int(epoch, "epoch")
        if not isinstance(stage, str) or not stage:
            raise StoreError(f"stage must be a non-empty string, got {stage!r}")
        columns, extras = split_metrics(metrics)
        with self._write() as conn:
            self._require_run(conn, run_id)
            existing = conn.execute(
                "SELECT metrics FROM epochs WHERE run_id = ? AND epoch = ? AND stage = ?",
                (run_id, epoch, stage),
            ).fetchone()
            if existing is None:
                self._insert_epoch(conn, run_id, epoch, stage, columns, extras)
            else:
                merged = {**(from_json_or(existing[0], {}) or {}), **extras}
                self._update_epoch(conn, run_id, epoch, stage, columns, merged)

    def _insert_epoch(self, conn, run_id, epoch, stage, columns, extras) -> None:
        """Insert a new epochs row."""
        names = ["run_id", "epoch", "stage", *columns, "metrics"]
        values = [run_id, epoch, stage, *columns.values(), to_json(extras, "metrics")]
        marks = ", ".join("?" for _ in names)
        conn.execute(f"INSERT INTO epochs ({', '.join(names)}) VALUES ({marks})", values)

    def _update_epoch(self, conn, run_id, epoch, stage, columns, extras) -> None:
        """Overwrite the given columns and the merged JSON of an existing epochs row."""
        assignments = [f"{name} = ?" for name in columns] + ["metrics = ?"]
        values = [*columns.values(), to_json(extras, "metrics"), run_id, epoch, stage]
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
            extras = from_json_or(row.pop("metrics"), {}) or {}
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
        check_int(epoch, "epoch")
        values = (
            run_id,
            epoch,
            check_int(to_sql_value(kept, "kept"), "kept"),
            check_int(to_sql_value(eligible, "eligible"), "eligible"),
            to_number(jaccard, "jaccard"),
            to_json(dict(per_layer), "per_layer"),
        )
        conn.execute(
            "INSERT INTO masks (run_id, epoch, kept, eligible, jaccard, per_layer) VALUES (?, ?, ?, ?, ?, ?)",
            values,
        )

    def masks(self, run_id: int) -> list[dict[str, Any]]:
        """Mask rows of a run in epoch (then insertion) order, per_layer decoded."""
        rows = self._read("SELECT * FROM masks WHERE run_id = ? ORDER BY epoch, id", (run_id,))
        return [decode_row(row, "masks") for row in rows]
