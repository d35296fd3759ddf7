"""Sweep rows, per-example predictions and whole-trial imports of the run store.

A sweep is a grid of trials; each trial is one run whose ``trial_key`` names
its place in the grid. Trials run anywhere (this process, worker processes,
Ray hosts) and come back as a ``TrialRecord``; the one process that owns the
store writes each record in a single transaction (``record_trial``), so a
trial is either in the store completely or not at all.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Mapping

from cast_engine.errors import StoreError
from cast_engine.store.codec import from_json_or, split_metrics, to_json, utc_now
from cast_engine.store.locks import is_held
from cast_engine.store.places import sweep_lock
from cast_engine.store.stamps import stamp_owner
from cast_engine.store.status import FINAL_STATUSES, SWEEP_STATUSES, check_status


class SweepTables:
    """Mixed into ``RunStore``: sweeps, predictions and whole trials, written through ``StoreFile._write``."""

    # -- sweeps ---------------------------------------------------------

    def create_sweep(self, name: str, kind: str, spec: Mapping[str, Any], spec_hash: str, n_trials: int) -> int:
        """Insert a sweep in status 'running' owned by this process; return its id."""
        now = utc_now()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO sweeps (name, kind, status, spec, spec_hash, n_trials, created_at, updated_at, pid, host) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                (name, kind, to_json(dict(spec), "spec"), spec_hash, n_trials, now, now, os.getpid(), socket.gethostname()),
            )
            sweep_id = int(cursor.lastrowid)
            self._hold(sweep_lock(self.path, self.store_id, sweep_id), f"sweep {sweep_id}")
        return sweep_id

    def claim_sweep(self, sweep_id: int) -> None:
        """Mark a sweep 'running' again, owned by this process (on resume); StoreError when another
        process runs it now (it holds the sweep's lock): one sweep has one owner."""
        lock = sweep_lock(self.path, self.store_id, sweep_id)
        if str(lock) not in self._held:
            self._hold(lock, f"sweep {sweep_id}")
        self._set_sweep(sweep_id, status="running", pid=os.getpid(), host=socket.gethostname())

    def finish_sweep(self, sweep_id: int, status: str) -> None:
        """Record how a sweep ended: completed, stopped or failed."""
        if status not in SWEEP_STATUSES[1:]:
            raise StoreError(f"unknown sweep status {status!r}; expected one of {', '.join(SWEEP_STATUSES[1:])}")
        self._set_sweep(sweep_id, status=status, pid=None)
        self._let_go(sweep_lock(self.path, self.store_id, sweep_id))

    def sweep_is_alive(self, sweep_id: int) -> bool:
        """Whether a process (this one included) holds the sweep's lock: it runs now."""
        if self.store_id is None:
            return False
        path = sweep_lock(self.path, self.store_id, sweep_id)
        return str(path) in self._held or is_held(path)

    def _set_sweep(self, sweep_id: int, **fields: Any) -> None:
        fields["updated_at"] = utc_now()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._write() as conn:
            cursor = conn.execute(f"UPDATE sweeps SET {assignments} WHERE id = ?", [*fields.values(), sweep_id])
            if cursor.rowcount == 0:
                raise StoreError(f"no sweep {sweep_id} in {self.path}")

    def get_sweep(self, sweep_id: int) -> dict[str, Any]:
        """One sweep with its spec decoded and a live ``state`` (see list_sweeps)."""
        rows = self._read("SELECT * FROM sweeps WHERE id = ?", (sweep_id,))
        if not rows:
            raise StoreError(f"no sweep {sweep_id} in {self.path}")
        sweep = self._decode_sweep(rows[0])
        if sweep["spec"] is None:
            raise StoreError(f"sweep {sweep_id} in {self.path} has a damaged grid (not readable JSON): it cannot be resumed")
        return sweep

    def list_sweeps(self, *, kind: str | None = None, spec_hash: str | None = None) -> list[dict[str, Any]]:
        """Sweeps, newest first, each with ``done`` (completed trials) and ``state``:
        its status, except that a 'running' sweep whose process is gone is 'interrupted'."""
        clauses, params = [], []
        for column, value in (("kind", kind), ("spec_hash", spec_hash)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return [self._decode_sweep(row) for row in self._read(f"SELECT * FROM sweeps{where} ORDER BY id DESC", params)]

    def _decode_sweep(self, row: dict[str, Any]) -> dict[str, Any]:
        row["spec"] = from_json_or(row["spec"], None)  # a damaged spec: listed, but it cannot be resumed
        done = self._read(
            "SELECT COUNT(DISTINCT trial_key) AS n FROM runs WHERE sweep_id = ? AND status = 'completed'", (row["id"],))
        row["done"] = done[0]["n"]
        alive = self.sweep_is_alive(row["id"])
        row["state"] = "interrupted" if row["status"] == "running" and not alive else row["status"]
        return row

    def sweep_runs(self, sweep_id: int, status: str | None = "completed") -> list[dict[str, Any]]:
        """The runs of a sweep (completed ones by default), oldest first."""
        return self.list_runs(sweep_id=sweep_id, status=status, order="asc")

    def runs_by_fingerprint(self, fingerprints: list[str]) -> dict[str, int]:
        """The newest completed run for each config fingerprint that has one."""
        found: dict[str, int] = {}
        for start in range(0, len(fingerprints), 500):
            chunk = fingerprints[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self._read(
                f"SELECT fingerprint, MAX(id) AS id FROM runs WHERE status = 'completed' "
                f"AND fingerprint IN ({marks}) GROUP BY fingerprint", chunk):
                found[row["fingerprint"]] = row["id"]
        return found

    # -- predictions ----------------------------------------------------

    def save_predictions(self, run_id: int, split: str, predicted: list[int], gold: list[int]) -> None:
        """Per-example test predictions and gold labels of one split (factual, counterfactual)."""
        with self._write() as conn:
            self._require_run(conn, run_id)
            self._insert_predictions(conn, run_id, split, predicted, gold)

    def _insert_predictions(self, conn, run_id: int, split: str, predicted, gold) -> None:
        """Check and write one predictions row (inside a write)."""
        if len(predicted) != len(gold):
            raise StoreError(f"run {run_id}: {len(predicted)} predictions for {len(gold)} gold labels in {split}")
        conn.execute("INSERT OR REPLACE INTO predictions (run_id, split, predicted, gold) VALUES (?, ?, ?, ?)",
                     (run_id, split, to_json(list(predicted), "predicted"), to_json(list(gold), "gold")))

    def predictions(self, run_id: int) -> dict[str, dict[str, list[int]]]:
        """{split: {'predicted': [...], 'gold': [...]}} of a run; empty when none were kept."""
        rows = self._read("SELECT split, predicted, gold FROM predictions WHERE run_id = ?", (run_id,))
        found = {}
        for row in rows:  # a damaged row of predictions counts as none stored (compare then says so)
            predicted, gold = from_json_or(row["predicted"], None), from_json_or(row["gold"], None)
            if isinstance(predicted, list) and isinstance(gold, list):
                found[row["split"]] = {"predicted": predicted, "gold": gold}
        return found

    # -- whole trials ---------------------------------------------------

    # Columns a trial never sets: the store assigns them (the artifact folder is derived, never taken).
    _STORE_OWNED_RUN_COLUMNS = frozenset({"id", "sweep_id", "trial_key", "artifact_dir"})

    def _check_trial_record(self, record) -> None:
        """StoreError unless a trial record (which may come from another host) holds only known run
        columns and plain file names, before any of it reaches the store or the disk."""
        run = getattr(record, "run", None)
        if not isinstance(run, dict):
            raise StoreError(f"a trial record's run must be a dict, got {type(run).__name__}")
        allowed = set(self._run_columns()) - self._STORE_OWNED_RUN_COLUMNS
        unknown = sorted(repr(name) for name in run if not isinstance(name, str) or name not in allowed)
        if unknown:
            raise StoreError(f"a trial record names run columns the store does not have or sets itself: {', '.join(unknown)}")
        artifacts = getattr(record, "artifacts", None)
        if not isinstance(artifacts, dict):
            raise StoreError(f"a trial record's artifacts must be a dict, got {type(artifacts).__name__}")
        for name, data in artifacts.items():
            if not is_plain_file_name(name):
                raise StoreError(f"a trial record's file name {name!r} is not a plain file name")
            if not isinstance(data, bytes):
                raise StoreError(f"a trial record's file {name!r} holds {type(data).__name__}, not bytes")

    def record_trial(self, record, *, sweep_id: int | None = None, trial_key: str | None = None) -> int:
        """Write a finished trial (run, epochs, masks, predictions) in one transaction,
        then its model files into the run's artifact folder; return the run id."""
        self._check_trial_record(record)
        run = dict(record.run)
        check_status(run["status"], FINAL_STATUSES)
        run.update(sweep_id=sweep_id, trial_key=trial_key)
        for column in ("config", "versions", "data_hashes", "results"):
            run[column] = to_json(run.get(column), column)
        with self._write() as conn:
            names = ", ".join(run)
            cursor = conn.execute(f"INSERT INTO runs ({names}) VALUES ({', '.join('?' for _ in run)})", list(run.values()))
            run_id = int(cursor.lastrowid)
            for epoch, stage, metrics in record.epochs:
                columns, extras = split_metrics(metrics)
                self._insert_epoch(conn, run_id, epoch, stage, columns, extras)
            for mask in record.masks:
                self._insert_mask(conn, run_id, *mask)
            for split, (predicted, gold) in record.predictions.items():
                self._insert_predictions(conn, run_id, split, predicted, gold)
        if record.artifacts:
            folder = self.artifact_dir(run_id)
            for name, data in record.artifacts.items():
                (folder / name).write_bytes(stamp_owner(name, data, self.store_id, run_id))
        return run_id


def is_plain_file_name(name) -> bool:
    """True for a non-empty file name without path separators, NUL, or a '.'/'..' meaning."""
    if not isinstance(name, str) or name in ("", ".", "..") or "\0" in name:
        return False
    return not any(sep in name for sep in ("/", "\\", os.sep, os.altsep or "/"))
