"""Read one table file (CSV, TSV, JSON lines, Parquet) into strings.

Reading goes through Hugging Face ``datasets``; every failure becomes a
:class:`~cast_engine.errors.DataError` naming the file and, where known, the line.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from cast_engine.errors import DataError

# extension -> format
TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "tsv",
    ".jsonl": "json",
    ".json": "json",
    ".parquet": "parquet",
}
_SEPARATORS = {"csv": ",", "tsv": "\t"}
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_UNCLOSED = re.compile(r"EOF inside string starting at row (\d+)")  # row 0 = the header


@dataclass(frozen=True)
class Table:
    """The rows of one file, every value a string.

    ``first_line`` is the line number of ``rows[0]`` (2 for CSV/TSV, whose header
    is line 1; 1 for JSON lines; the record number for JSON arrays and Parquet).
    """

    path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    first_line: int
    row_lines: list[int] | None = None

    def line(self, index: int) -> int:
        """The line number where row ``index`` (0-based) starts."""
        if self.row_lines is not None and 0 <= index < len(self.row_lines):
            return self.row_lines[index]
        return self.first_line + index

    def find_column(self, name: str) -> str | None:
        """The column called ``name``: exact match first, then case-insensitive."""
        if name in self.columns:
            return name
        matches = [c for c in self.columns if c.strip().lower() == name.strip().lower()]
        return matches[0] if matches else None

    def require_column(self, name: str, what: str = "column") -> str:
        """Like find_column, but a missing column is a DataError listing the columns found."""
        found = self.find_column(name)
        if found is None:
            raise DataError(f"missing {what} {name!r} (columns found: {', '.join(map(repr, self.columns))})", self.path, 1)
        return found


def table_format(path: str | Path) -> str:
    """The format of a file by its extension; DataError if not supported."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        allowed = " ".join(TABLE_FORMATS)
        raise DataError(f"unsupported file type {suffix or '(no extension)'!r}; use one of {allowed}", path)
    return TABLE_FORMATS[suffix]


def read_table(path: str | Path) -> Table:
    """Read a CSV/TSV/TXT(tab)/JSONL/JSON/Parquet file; every value comes back as a string."""
    path = Path(path)
    try:
        if not path.exists():
            raise DataError("file not found", path)
        if path.is_dir():
            raise DataError("is a folder, expected a file", path)
        fmt = table_format(path)
        data = path.read_bytes()
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read file: {getattr(exc, 'strerror', None) or exc}", path) from exc
    if not data.strip():
        raise DataError("file is empty", path)
    try:
        if fmt == "parquet":
            return _read_parquet(path, data)
        text = _check_text(path, data)
        if fmt == "json":
            return _read_json(path, text)
        return _read_delimited(path, text, _SEPARATORS[fmt])
    except DataError:
        raise
    except Exception as exc:  # anything datasets/pandas/pyarrow raise
        raise DataError(f"cannot read {fmt} file: {_root_message(exc)}", path) from exc


# --- checks on the raw bytes ------------------------------------------------------


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _check_text(path: Path, data: bytes) -> str:
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError("contains binary data (a NUL byte), expected a text table", path, _line_of_offset(data, nul))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = _line_of_offset(data, start)
        raise DataError(f"not valid UTF-8 text (byte 0x{data[start]:02x}); save the file as UTF-8", path, line) from exc


# --- readers --------------------------------------------------------------------------


def _read_delimited(path: Path, text: str, sep: str) -> Table:
    columns = _header(path, text, sep)
    import datasets

    features = datasets.Features({name: datasets.Value("string") for name in columns})
    try:
        with _quiet_datasets() as cache_dir:
            ds = datasets.Dataset.from_csv(
                str(path),
                sep=sep,
                header=0,
                column_names=columns,
                keep_default_na=False,
                features=features,
                cache_dir=cache_dir,
                keep_in_memory=True,
            )
            rows = ds.to_list()
    except Exception as exc:
        if "corresponds to no data" in str(exc):  # header only
            return Table(path, columns, [], 2)
        ragged = _RAGGED.search(_root_message(exc))
        if ragged:
            expected, line, saw = ragged.groups()
            raise DataError(f"row has {_fields(int(saw))}, the header has {expected}", path, int(line)) from exc
        unclosed = _UNCLOSED.search(_root_message(exc))
        if unclosed:
            raise DataError('unclosed quote: a field starts with " but never ends', path, int(unclosed.group(1)) + 1) from exc
        raise
    for row in rows:
        for name, value in row.items():
            if value is None:
                row[name] = ""
    lines = _record_lines(path, text, sep, len(columns))
    if lines is not None and len(lines) != len(rows):
        lines = None  # the two parsers disagree; fall back to counting rows
    return Table(path, columns, rows, 2, lines)


def _record_lines(path: Path, text: str, sep: str, width: int) -> list[int] | None:
    """Start line of each data record (quoted fields may span lines); rejects short rows."""
    starts: list[int] = []
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    try:
        next(reader)  # header
        start = reader.line_num + 1
        for record in reader:
            if record:
                if len(record) < width:
                    raise DataError(f"row has {_fields(len(record))}, the header has {width}", path, start)
                starts.append(start)
            start = reader.line_num + 1
    except csv.Error:
        return None
    return starts


def _header(path: Path, text: str, sep: str) -> list[str]:
    first = text.splitlines()[0] if text.strip() else ""
    try:
        columns = next(csv.reader(io.StringIO(first), delimiter=sep))
    except (csv.Error, StopIteration) as exc:
        raise DataError(f"cannot read the header: {exc}", path, 1) from exc
    seen: set[str] = set()
    for position, name in enumerate(columns, start=1):
        if not name.strip():
            raise DataError(f"column {position} of the header has no name", path, 1)
        if name in seen:
            raise DataError(f"duplicate column {name!r} in the header", path, 1)
        seen.add(name)
    return columns


def _read_json(path: Path, text: str) -> Table:
    if text.lstrip().startswith("["):
        _check_json_array(path, text)
    else:
        _check_json_lines(path, text)
    import datasets

    try:
        with _quiet_datasets() as cache_dir:
            ds = datasets.Dataset.from_json(str(path), cache_dir=cache_dir, keep_in_memory=True)
            rows = ds.to_list()
            columns = list(ds.column_names)
    except Exception as exc:
        if "corresponds to no data" in str(exc):
            raise DataError("file holds no records", path) from exc
        raise
    return Table(path, columns, [_stringify_row(r) for r in rows], 1)


def _check_json_lines(path: Path, text: str) -> None:
    """Find the first line that is not a JSON object (datasets' errors do not say where)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", path, number) from exc
        if not isinstance(record, dict):
            raise DataError(f"expected a JSON object per line, got {type(record).__name__}", path, number)


def _check_json_array(path: Path, text: str) -> None:
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", path, exc.lineno) from exc
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise DataError(f"record {number} of the JSON array is a {type(record).__name__}, expected an object", path)


def _read_parquet(path: Path, data: bytes) -> Table:
    if not (data.startswith(b"PAR1") and data.endswith(b"PAR1")):
        raise DataError("not a Parquet file (missing PAR1 magic bytes)", path)
    import datasets

    with _quiet_datasets() as cache_dir:
        ds = datasets.Dataset.from_parquet(str(path), cache_dir=cache_dir, keep_in_memory=True)
        rows = ds.to_list()
        columns = list(ds.column_names)
    return Table(path, columns, [_stringify_row(r) for r in rows], 1)


# --- helpers ------------------------------------------------------------------------------


def _fields(count: int) -> str:
    return f"{count} field" + ("" if count == 1 else "s")


def _stringify_row(row: dict[str, Any]) -> dict[str, str]:
    return {str(k): _stringify(v) for k, v in row.items()}


def _stringify(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _root_message(exc: BaseException) -> str:
    """The message of the innermost cause (datasets wraps pandas/pyarrow errors)."""
    seen = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return str(exc).strip() or type(exc).__name__


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[str]:
    """Silence datasets' progress bars and logs; yield a throw-away cache folder.

    A private cache per read means an edited file is never served stale and no
    copy of user data accumulates in the shared Hugging Face cache.
    """
    from ..imports import no_import_in_progress
    from .quiet import datasets_quiet

    # datasets looks transformers up while it reads: never while another thread is importing it
    with no_import_in_progress(), datasets_quiet(), tempfile.TemporaryDirectory(prefix="cast-read-") as cache_dir:
        yield cache_dir


# --- checked cell access, shared by the loaders ------------------------------------------


def cell_label(table: Table, index: int, column: str, task: str) -> int:
    """The label index of row ``index``; DataError naming the value if it is not a label of ``task``."""
    from cast_engine.data.types import accepted_labels, label_index

    value = table.rows[index][column]
    label = label_index(task, value)
    if label is None:
        allowed = ", ".join(accepted_labels(task))
        raise DataError(f"unknown label {value!r} in column {column!r}; accepted: {allowed}", table.path, table.line(index))
    return label


def cell_text(table: Table, index: int, column: str) -> str:
    """The text of row ``index``; DataError if it is empty."""
    value = table.rows[index][column]
    if not value.strip():
        raise DataError(f"empty text in column {column!r}", table.path, table.line(index))
    return value
