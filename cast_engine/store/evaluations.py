"""Named evaluations of a run on other paired data (see cast_engine.runs.evaluate).

An evaluation row holds where the data came from (source text, the loader
options as ``spec``, each file's sha256 and one sha256 over all of it), the
label names, the accuracies, and the evaluated examples themselves
(compressed JSON), so a pair view never needs the data files again. Its
per-example predictions, gold labels and class probabilities (float32, one
row per example) are kept per split (factual, counterfactual).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cast_engine.errors import StoreError
from cast_engine.store.codec import from_json, to_json, utc_now

_LIST_COLUMNS = "id, run_id, name, source, spec, data_sha256, data_files, labels, results, created_at"


class EvaluationTables:
    """Mixed into ``RunStore``: uses its ``_write``/``_read`` helpers."""

    def add_evaluation(self, run_id: int, *, name: str, source: str, spec: Mapping[str, Any], data_sha256: str,
                       data_files: Mapping[str, str], labels: list[str], results: Mapping[str, Any],
                       examples: bytes, predictions: Mapping[str, tuple[list[int], list[int], np.ndarray]]) -> int:
        """Store one evaluation with its predictions in one transaction; return its id.

        ``predictions``: {split: (predicted, gold, probabilities[n, len(labels)])}.
        A second evaluation of the run under the same name is refused.
        """
        for split, (predicted, gold, probabilities) in predictions.items():
            if not (len(predicted) == len(gold) == len(probabilities)):
                raise StoreError(f"evaluation {name!r} of run {run_id}: {len(predicted)} predictions, {len(gold)} "
                                 f"gold labels and {len(probabilities)} probability rows in {split}")
        with self._write() as conn:
            self._require_run(conn, run_id)
            taken = conn.execute("SELECT id FROM evaluations WHERE run_id = ? AND name = ?", (run_id, name)).fetchone()
            if taken is not None:
                raise StoreError(f"run {run_id} already has an evaluation named {name!r} on other data; "
                                 "choose another name (--name)")
            cursor = conn.execute(
                "INSERT INTO evaluations (run_id, name, source, spec, data_sha256, data_files, labels, results, "
                "examples, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, name, source, to_json(dict(spec), "spec"), data_sha256, to_json(dict(data_files), "data_files"),
                 to_json(list(labels), "labels"), to_json(dict(results), "results"), examples, utc_now()))
            evaluation_id = int(cursor.lastrowid)
            for split, (predicted, gold, probabilities) in predictions.items():
                conn.execute(
                    "INSERT INTO evaluation_predictions (evaluation_id, split, predicted, gold, probabilities) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (evaluation_id, split, to_json(list(predicted), "predicted"), to_json(list(gold), "gold"),
                     np.asarray(probabilities, dtype=np.float32).tobytes()))
        return evaluation_id

    def list_evaluations(self, run_id: int | None = None) -> list[dict[str, Any]]:
        """Evaluations (of one run, or all), oldest first, without their examples."""
        where, params = ("WHERE run_id = ?", (run_id,)) if run_id is not None else ("", ())
        rows = self._read(f"SELECT {_LIST_COLUMNS} FROM evaluations {where} ORDER BY id", params)
        return [_decode_evaluation(row) for row in rows]

    def evaluation_names(self) -> list[str]:
        """Every evaluation name in the store, sorted (the studio's choice of accuracy columns)."""
        return [row["name"] for row in self._read("SELECT DISTINCT name FROM evaluations ORDER BY name")]

    def find_evaluation(self, run_id: int, *, name: str | None = None,
                        data_sha256: str | None = None) -> dict[str, Any] | None:
        """The run's evaluation with this name or this data hash, or None."""
        column, value = ("name", name) if name is not None else ("data_sha256", data_sha256)
        rows = self._read(f"SELECT {_LIST_COLUMNS} FROM evaluations WHERE run_id = ? AND {column} = ?",
                          (run_id, value))
        return _decode_evaluation(rows[0]) if rows else None

    def get_evaluation(self, run_id: int, name: str) -> dict[str, Any]:
        """The run's evaluation named ``name``; StoreError listing the names it has otherwise."""
        found = self.find_evaluation(run_id, name=name)
        if found is None:
            names = [e["name"] for e in self.list_evaluations(run_id)]
            has = f"its evaluations: {', '.join(names)}" if names else "it has none (see `cast evaluate`)"
            raise StoreError(f"run {run_id} has no evaluation named {name!r}; {has}")
        return found

    def evaluation_examples(self, evaluation_id: int) -> bytes:
        """The compressed examples an evaluation ran on."""
        rows = self._read("SELECT examples FROM evaluations WHERE id = ?", (evaluation_id,))
        if not rows:
            raise StoreError(f"no evaluation {evaluation_id} in {self.path}")
        return rows[0]["examples"]

    def evaluation_predictions(self, evaluation_id: int) -> dict[str, dict[str, Any]]:
        """{split: {'predicted', 'gold', 'probabilities' (float32 array n × labels)}}."""
        rows = self._read("SELECT split, predicted, gold, probabilities FROM evaluation_predictions "
                          "WHERE evaluation_id = ?", (evaluation_id,))
        found = {}
        for row in rows:
            predicted = from_json(row["predicted"])
            probabilities = np.frombuffer(row["probabilities"], dtype=np.float32)
            width = probabilities.size // len(predicted) if predicted else 0
            found[row["split"]] = {"predicted": predicted, "gold": from_json(row["gold"]),
                                   "probabilities": probabilities.reshape(len(predicted), width)}
        return found

    def delete_evaluation(self, evaluation_id: int) -> None:
        """Delete one evaluation and its predictions."""
        with self._write() as conn:
            conn.execute("DELETE FROM evaluation_predictions WHERE evaluation_id = ?", (evaluation_id,))
            conn.execute("DELETE FROM evaluations WHERE id = ?", (evaluation_id,))

    def _delete_run_evaluations(self, conn, run_id: int) -> None:
        """Inside delete_run's write: the run's evaluations and their predictions."""
        conn.execute("DELETE FROM evaluation_predictions WHERE evaluation_id IN "
                     "(SELECT id FROM evaluations WHERE run_id = ?)", (run_id,))
        conn.execute("DELETE FROM evaluations WHERE run_id = ?", (run_id,))


def _decode_evaluation(row: dict[str, Any]) -> dict[str, Any]:
    for column in ("spec", "data_files", "labels", "results"):
        row[column] = from_json(row[column])
    return row
