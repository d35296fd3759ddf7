"""Read one table file (CSV, TSV, JSON lines, a JSON array, Parquet) into strings.

Text files are read as a stream (Python's ``csv`` and ``json`` modules, one
record at a time), so reading a file takes about twice its size in memory,
not a copy per library layer; a file too big for the memory available is
refused before it is read. Only regular files are read: a FIFO, a device or
a socket is refused up front (reading one could block forever or never end).
Every failure becomes a :class:`~cast_engine.errors.DataError` naming the
file and, where known, the line.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import math
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from cast_engine.errors import DataError, RunCancelled

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
_CHUNK = 1 << 20
# Peak memory of reading a text table: a multiple of its size plus the Python objects of each row
# (bench/read_memory.py measures both).
READ_MEMORY_FACTOR = 1
READ_MEMORY_PER_ROW = 900
_SHORT = 24  # cells up to this length are shared between rows (labels, splits, roles repeat)
_KIND_NAMES = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFSOCK: "a socket"}


@dataclass(frozen=True)
class Table:
    """The rows of one file, every value a string.

    ``first_line`` is the line number of ``rows[0]`` (2 for CSV/TSV, whose header
    is line 1; 1 for JSON lines; the record number for JSON arrays and Parquet).
    ``non_text`` names the columns whose values were not strings in the file
    (JSON numbers, Parquet integers, lists, binary...): their type and the line of
    the first such value. Such a column may hold labels, never texts.
    """

    path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    first_line: int
    row_lines: list[int] | None = None
    non_text: dict[str, tuple[str, int | None]] = field(default_factory=dict)

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
            shown = ", ".join(map(repr, self.columns[:20])) + (f" and {len(self.columns) - 20} more" if len(self.columns) > 20 else "")
            raise DataError(f"missing {what} {name!r} (columns found: {shown})", self.path, 1)
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
    size = check_regular_file(path)
    fmt = table_format(path)
    check_memory_for(path, size)
    try:
        if _is_blank(path):
            raise DataError("file is empty", path)
        if fmt == "parquet":
            return _read_parquet(path, size)
        _check_text(path)
        if fmt == "json":
            return _read_json(path)
        return _read_delimited(path, _SEPARATORS[fmt])
    except (DataError, RunCancelled):
        raise
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", path) from exc
    except RecursionError:
        raise DataError("cannot read file: values nested too deeply", path) from None
    except Exception as exc:  # anything pyarrow raises on a damaged Parquet file
        raise DataError(f"cannot read {fmt} file: {_root_message(exc)}", path) from exc


# --- stopping a read that is no longer wanted ------------------------------------

_local = threading.local()
_POLL_EVERY = 2048  # records between two looks at the stop flag


@contextlib.contextmanager
def stop_reading_when(should_stop):
    """Within this block, a table read in this thread raises RunCancelled soon after ``should_stop()``
    turns true (the studio drops a load that a newer choice replaced, and its memory with it)."""
    previous = getattr(_local, "should_stop", None)
    _local.should_stop = should_stop
    try:
        yield
    finally:
        _local.should_stop = previous


def _poll() -> None:
    should_stop = getattr(_local, "should_stop", None)
    if should_stop is not None and should_stop():
        raise RunCancelled("reading stopped: a newer data choice replaced this one")


# --- checks before reading --------------------------------------------------------


def check_regular_file(path: Path) -> int:
    """The size of ``path`` if it is a regular file (following links); DataError saying what it is otherwise."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise DataError(f"is a symbolic link to {os.readlink(path)!r}, which does not exist", path) from None
        raise DataError("file not found", path) from None
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            raise DataError("is a symbolic link loop (the links point at each other, never at a file)", path) from None
        raise DataError(f"cannot read file: {exc.strerror or exc}", path) from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError("is a folder, expected a file", path)
    if not stat.S_ISREG(info.st_mode):
        kind = _KIND_NAMES.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise DataError(f"is {kind}, not a regular file; save the data to a file and give that", path)
    if not os.access(path, os.R_OK):
        raise DataError("cannot read file: permission denied", path)
    return info.st_size


def available_memory() -> int | None:
    """Bytes of memory a new allocation can take now (psutil's 'available'); None if unknown."""
    try:
        import psutil
    except ImportError:  # an optional estimate: without it no file is refused for its size
        return None
    return int(psutil.virtual_memory().available)


def check_memory_for(path: Path, size: int) -> None:
    """DataError, with the numbers, when reading a file of ``size`` bytes would not fit in memory."""
    available = available_memory()
    if available is None:
        return
    needed = read_memory_estimate(path, size)
    if needed > available:
        raise DataError(f"file is {_gigabytes(size)}; reading it takes about {_gigabytes(needed)} of memory and "
                        f"{_gigabytes(available)} is available: use a smaller file (or split it into train, dev and test files)",
                        path)


def read_memory_estimate(path: Path, size: int) -> int:
    """Bytes reading a file of ``size`` bytes takes: its text, plus the Python objects of
    each row (fitted to bench/read_memory.py: 2.1× a file of reviews, 20× a file of three-word rows)."""
    if table_format(path) == "parquet":  # compressed: the text inside is larger than the file
        try:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path).metadata
            text = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            return int(READ_MEMORY_FACTOR * max(size, text) + READ_MEMORY_PER_ROW * meta.num_rows)
        except Exception:  # noqa: BLE001 (not a readable Parquet file: reading it says why)
            return READ_MEMORY_FACTOR * size
    with open(path, "rb") as handle:
        sample = handle.read(_CHUNK)
    rows = size * max(1, sample.count(b"\n")) / max(1, len(sample))
    return int(READ_MEMORY_FACTOR * size + READ_MEMORY_PER_ROW * rows)


def _gigabytes(count: int) -> str:
    return f"{count / 1e9:.2f} GB"


def _is_blank(path: Path) -> bool:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            if chunk.strip():
                return False
    return True


def _check_text(path: Path) -> None:
    """A text table must be UTF-8 without NUL bytes; say what it is instead (UTF-16, gzip...) when it is not."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        _check_known_binary(path, head)
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        lines = 0
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            _poll()
            nul = chunk.find(b"\x00")
            if nul >= 0:
                if lines == 0 and max(chunk[0:200:2].count(0), chunk[1:200:2].count(0)) > 40:
                    raise DataError("is UTF-16 text without a byte-order mark; save the file as UTF-8", path)
                raise DataError("contains binary data (a NUL byte), expected a text table", path, lines + chunk.count(b"\n", 0, nul) + 1)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = exc.object[exc.start]
                line = lines + exc.object.count(b"\n", 0, exc.start) + 1
                raise DataError(f"not valid UTF-8 text (byte 0x{bad:02x}); save the file as UTF-8", path, line) from exc
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise DataError(f"not valid UTF-8 text (the file ends inside a character, byte 0x{exc.object[exc.start]:02x})",
                            path, lines + 1) from exc


def _check_known_binary(path: Path, head: bytes) -> None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError("is UTF-16 text; save the file as UTF-8", path)
    if head.startswith(b"\x1f\x8b"):
        raise DataError("is gzip-compressed; decompress it first (gunzip) and give the file inside", path)
    if head.startswith(b"PK\x03\x04"):
        raise DataError("is a zip archive; unpack it and give the table file inside", path)


# --- readers --------------------------------------------------------------------------


def _open_text(path: Path):
    return open(path, encoding="utf-8-sig", newline="")


def _shared(cache: dict[str, str], value: str) -> str:
    """One string object for each short value that repeats (labels, splits, roles): less memory per row."""
    if len(value) > _SHORT:
        return value
    return cache.setdefault(value, value)


def _read_delimited(path: Path, sep: str) -> Table:
    """Stream the records with Python's csv module; strict quoting first, so an unclosed quote is named."""
    try:
        return _parse_delimited(path, sep, strict=True)
    except _StrictQuoting:
        return _parse_delimited(path, sep, strict=False)  # a stray quote inside a field: read it as text, as pandas does


class _StrictQuoting(Exception):
    pass


def _parse_delimited(path: Path, sep: str, strict: bool) -> Table:
    if csv.field_size_limit() < 2**31 - 1:
        csv.field_size_limit(2**31 - 1)  # a long review is a valid field; the size of the whole file was checked
    cache: dict[str, str] = {}
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    with _open_text(path) as handle:
        reader = csv.reader(handle, delimiter=sep, strict=strict)
        start = 1
        try:
            header = next(reader, None)
            columns = _check_header(path, header or [])
            width = len(columns)
            start = reader.line_num + 1
            for record in reader:
                if len(rows) % _POLL_EVERY == 0:
                    _poll()
                if record:
                    if len(record) != width:
                        raise DataError(f"row has {_fields(len(record))}, the header has {width}", path, start)
                    rows.append({name: _shared(cache, value) for name, value in zip(columns, record)})
                    lines.append(start)
                start = reader.line_num + 1
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise DataError('unclosed quote: a field starts with " but never ends', path, start) from None
            if strict:
                raise _StrictQuoting() from None
            raise DataError(f"cannot read the row: {exc}", path, start) from None
    simple = all(line == 2 + index for index, line in enumerate(lines))
    return Table(path, columns, rows, 2, None if simple else lines)


def _check_header(path: Path, columns: list[str]) -> list[str]:
    seen: set[str] = set()
    if not columns:
        raise DataError("cannot read the header: the first line is empty", path, 1)
    for position, name in enumerate(columns, start=1):
        if not name.strip():
            raise DataError(f"column {position} of the header has no name", path, 1)
        if name in seen:
            raise DataError(f"duplicate column {name!r} in the header", path, 1)
        seen.add(name)
    return columns


def _read_json(path: Path) -> Table:
    with _open_text(path) as handle:
        first = ""
        while not first.strip():
            first = handle.read(1)
            if not first:
                raise DataError("file holds no records", path)
    if first == "[":
        return _records_table(path, _json_array(path), 1)
    return _records_table(path, _json_lines(path), 1)


def _json_error(exc: json.JSONDecodeError) -> str:
    return f"invalid JSON ({exc.msg} at column {exc.colno})"


def _json_lines(path: Path) -> Iterable[tuple[int, Any]]:
    """(line, record) of each non-blank line. Lines end at \\n (or \\r\\n) only: U+2028 and
    friends are valid inside a JSON string and do not end a line."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(_json_error(exc), path, number) from None
            if not isinstance(record, dict):
                raise DataError(f"expected a JSON object per line, got {_json_kind(record)}", path, number)
            yield number, record


def _json_array(path: Path) -> Iterable[tuple[int, Any]]:
    with _open_text(path) as handle:
        try:
            records = json.load(handle)
        except json.JSONDecodeError as exc:
            raise DataError(_json_error(exc), path, exc.lineno) from None
    if not isinstance(records, list):
        raise DataError(f"expected a JSON array of objects, got {_json_kind(records)}", path)
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise DataError(f"record {number} of the JSON array is {_json_kind(record)}, expected an object", path)
        yield number, record


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "true/false", type(None): "null",
            int: "a number (int)", float: "a number (float)"}.get(type(value), type(value).__name__)


def _records_table(path: Path, records: Iterable[tuple[int, dict]], first_line: int) -> Table:
    """A Table from (line, record) pairs; missing keys are empty strings, non-strings are noted."""
    columns: dict[str, None] = {}
    non_text: dict[str, tuple[str, int | None]] = {}
    cache: dict[str, str] = {}
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    for number, record in records:
        if len(rows) % _POLL_EVERY == 0:
            _poll()
        row = {}
        for key, value in record.items():
            key = str(key)
            columns.setdefault(key, None)
            if value is not None and not isinstance(value, str) and key not in non_text:
                non_text[key] = (_json_kind(value), number)
            row[key] = _shared(cache, _stringify(value))
        rows.append(row)
        lines.append(number)
    if not rows:
        raise DataError("file holds no records", path)
    names = list(columns)
    for row in rows:
        if len(row) != len(names):
            for name in names:
                row.setdefault(name, "")
    simple = all(line == first_line + index for index, line in enumerate(lines))
    return Table(path, names, rows, first_line, None if simple else lines, non_text)


def _read_parquet(path: Path, size: int) -> Table:
    with open(path, "rb") as handle:
        head = handle.read(4)
        handle.seek(max(0, size - 4))
        tail = handle.read(4)
    if head != b"PAR1" or tail != b"PAR1":
        raise DataError("not a Parquet file (missing PAR1 magic bytes)", path)
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    non_text = {name: (str(table.schema.field(name).type), None) for name in table.column_names
                if table.schema.field(name).type not in _ARROW_TEXT_TYPES()}
    records = ((number, record) for number, record in enumerate(table.to_pylist(), start=1))
    result = _records_table(path, records, 1)
    return Table(path, result.columns, result.rows, 1, None, {**non_text})


def _ARROW_TEXT_TYPES():  # noqa: N802 (a constant, built on first use: pyarrow loads only for Parquet)
    import pyarrow as pa

    return (pa.string(), pa.large_string(), pa.null())


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
    """The message of the innermost cause (pyarrow wraps its own errors)."""
    seen = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return str(exc).strip() or type(exc).__name__


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
    """The text of row ``index``; DataError if it is empty, or if the file holds no text in ``column``."""
    if column in table.non_text:
        kind, line = table.non_text[column]
        raise DataError(f"column {column!r} holds {kind} values, not text; texts must be strings",
                        table.path, line if line is not None else None)
    value = table.rows[index][column]
    if not value.strip():
        raise DataError(f"empty text in column {column!r}", table.path, table.line(index))
    return value
