"""Hostile dataset files: hundreds of malformed files, each generated to break one rule.

Every one must end in the engine's own error (a CastError) whose message names
the file and, for a problem on a row, its line; nothing else may escape, and
the run store is never written (``run`` reads the data before it opens the
store). The files start from the bundled demo data, which loads cleanly.
"""

from __future__ import annotations

import csv
import io
import json
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cast_engine.config import DataConfig, RunConfig
from cast_engine.data import demo_file
from cast_engine.errors import CastError
from cast_engine.runs.dataset import load_data
from cast_engine.runs.runner import run

COLUMNS = ["split", "pair_id", "role", "label", "text"]
ROWS = [json.loads(line) for line in demo_file("sentiment").read_text(encoding="utf-8").splitlines()]
FORMATS = ("csv", "tsv", "jsonl")
FAULTS = ("missing_column", "extra_field", "short_row", "unknown_label", "duplicated_pair", "unpaired",
          "orphan_revision", "empty_split", "invalid_utf8", "binary", "unknown_split", "empty_file")
HOSTILE = settings(max_examples=520, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _table(rows: list[dict], columns: list[str], fmt: str) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps({c: r[c] for c in columns if c in r}) + "\n" for r in rows)
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([r.get(c, "") for c in columns])
    return out.getvalue()


def hostile_file(fault: str, fmt: str, seed: int) -> tuple[bytes, int | None]:
    """The bytes of a file that breaks exactly ``fault``, and the line the error must name (None: no line)."""
    rng = random.Random(seed)
    rows = [dict(r) for r in ROWS]
    columns = list(COLUMNS)
    i = rng.randrange(len(rows))
    line = i + (1 if fmt == "jsonl" else 2)  # the header is line 1 of a CSV or TSV
    if fault == "missing_column":
        columns.remove(rng.choice(["label", "pair_id", "text"]))
        return _table(rows, columns, fmt).encode(), None
    if fault in ("extra_field", "short_row"):
        if fmt == "jsonl":  # a JSON line that is not an object with the columns
            text = _table(rows, columns, fmt).splitlines(keepends=True)
            text[i] = "[1, 2, 3]\n" if fault == "extra_field" else text[i][: rng.randrange(1, len(text[i]) - 1)] + "\n"
            return "".join(text).encode(), line
        text = _table(rows, columns, fmt).splitlines(keepends=True)
        sep = "\t" if fmt == "tsv" else ","
        cells = next(csv.reader([text[line - 1]], delimiter=sep))
        cells = cells + ["surplus"] * rng.randrange(1, 3) if fault == "extra_field" else cells[: rng.randrange(1, 5)]
        out = io.StringIO()
        csv.writer(out, delimiter=sep, lineterminator="\n").writerow(cells)
        text[line - 1] = out.getvalue()
        return "".join(text).encode(), line
    if fault == "unknown_label":
        rows[i]["label"] = rng.choice(["Meh", "positive!", "2", "neutral", "Posittive"])
    elif fault == "duplicated_pair":  # a second original for a pair (several revisions are allowed)
        i = next(k for k in range(i, i + len(rows)) if rows[k % len(rows)]["role"] == "original") % len(rows)
        rows.insert(i + 1, dict(rows[i], text=rows[i]["text"] + " again"))
        line = i + 1 + (1 if fmt == "jsonl" else 2)
    elif fault == "unpaired":
        i = next(k for k in range(i, i + len(rows)) if rows[k % len(rows)]["role"] == "original") % len(rows)
        rows = [r for r in rows if not (r["pair_id"] == rows[i]["pair_id"] and r["role"] == "revised")]
        line = None  # the message names the original's line; which one depends on the order
    elif fault == "orphan_revision":
        rows.append(dict(rows[i], pair_id=f"orphan{seed}", role="revised"))
        line = len(rows) + (0 if fmt == "jsonl" else 1)
    elif fault == "empty_split":
        split = rng.choice(["train", "dev", "test"])
        rows = [r for r in rows if r["split"] != split]
        line = None
    elif fault == "unknown_split":
        rows[i]["split"] = rng.choice(["training", "holdout", "", "tst"])  # validation, val are aliases of dev
    elif fault == "invalid_utf8":
        text = _table(rows, columns, fmt).encode().splitlines(keepends=True)
        bad = rng.choice([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\x80abc"])
        at = rng.randrange(0, len(text[line - 1]) - 1)
        text[line - 1] = text[line - 1][:at] + bad + text[line - 1][at:]
        return b"".join(text), line
    elif fault == "binary":
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(16, 4096)))
        return data[:8] + b"\x00" + data[8:], None
    elif fault == "empty_file":
        return rng.choice([b"", b"\n", b"   \n\n"]), None
    return _table(rows, columns, fmt).encode(), line


def assert_refused(path: Path, store: Path, line: int | None) -> None:
    """Loading fails with the engine's error naming the file (and line); a run of it writes nothing."""
    config = RunConfig(data=DataConfig(data=str(path), task="sentiment"))
    with pytest.raises(CastError) as caught:  # the data alone first: a file that loads must not start training
        load_data(config.data)
    message = str(caught.value)
    assert path.name in message, message
    if line is not None:
        assert f"line {line}" in message, message
    with pytest.raises(CastError):
        run(config, store=store)
    assert not store.exists(), "the store was written"


@HOSTILE
@given(fault=st.sampled_from(FAULTS), fmt=st.sampled_from(FORMATS), seed=st.integers(0, 2**31 - 1))
@example(fault="binary", fmt="csv", seed=1)
def test_malformed_files_end_in_the_engines_error_naming_file_and_line(fault, fmt, seed):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{fault}.{fmt}"
        data, line = hostile_file(fault, fmt, seed)
        path.write_bytes(data)
        assert_refused(path, Path(folder) / "store" / "runs.sqlite", line)


@pytest.mark.parametrize("shape", ["one_line", "last_row"])
def test_a_ten_megabyte_line(tmp_path, shape):
    path = tmp_path / "huge.csv"
    if shape == "one_line":  # no newline at all: one header cell of 10 MB
        path.write_bytes(b"x" * 10_000_000)
        line = 1
    else:  # a valid file whose last row is a 10 MB cell of an unknown label
        body = _table(ROWS, COLUMNS, "csv") + "train,huge,original," + "L" * 10_000_000 + ",text\n"
        path.write_text(body, encoding="utf-8")
        line = len(ROWS) + 2
    assert_refused(path, tmp_path / "store" / "runs.sqlite", line)


def test_a_folder_where_a_file_should_be(tmp_path):
    folder = tmp_path / "train.csv"
    folder.mkdir()
    assert_refused(folder, tmp_path / "store" / "runs.sqlite", None)
