"""User CAD data: one paired file, a folder of train/dev/test files, or two aligned files.

A paired file has a text column (two for sentence pairs), a label column and a
pair id column; optional ``split`` (train/dev/test) and ``role`` columns. Role
"original" (or "factual") marks the factual row of a pair; any other value is a
revision, and for NLI the roles RP1, RP2, RH1, RH2 let the variants select them.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from cast_engine.data.reading import TABLE_FORMATS, Table, cell_label, cell_text, read_table
from cast_engine.data.types import (
    DEFAULT_VARIANTS,
    SPLITS,
    CadDataset,
    CadSplit,
    Example,
    labels_for,
    normalize_task,
    normalize_variant,
)
from cast_engine.errors import ConfigError, DataError

SPLIT_NAMES = {"train": "train", "dev": "dev", "validation": "dev", "valid": "dev", "val": "dev", "test": "test"}
FACTUAL_ROLES = ("original", "factual")
NLI_ROLES = ("RP1", "RP2", "RH1", "RH2")
ROLE_SELECTION = {
    "RP1": {"RP1"},
    "RP2": {"RP2"},
    "RH1": {"RH1"},
    "RH2": {"RH2"},
    "RP": {"RP1", "RP2"},
    "RH": {"RH1", "RH2"},
}
# candidate column names, tried in order (case-insensitive)
TEXT_CANDIDATES = {
    "sentiment": [("text",), ("sentence",)],
    "nli": [("text_a", "text_b"), ("sentence1", "sentence2"), ("premise", "hypothesis")],
}
LABEL_CANDIDATES = ("label", "gold_label", "sentiment")
PAIR_CANDIDATES = ("pair_id", "batch_id")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class Columns:
    """The columns of a user table, resolved to the names the file uses."""

    text: tuple[str, ...]
    label: str
    pair: str | None
    split: str | None
    role: str | None


@dataclass(frozen=True, slots=True)
class _Row:
    table: Table
    index: int
    example: Example
    pair_id: str
    role: str | None
    split: str | None

    @property
    def line(self) -> int:
        return self.table.line(self.index)

    @property
    def is_original(self) -> bool:
        return self.role is not None and self.role.strip().lower() in FACTUAL_ROLES


# --- public loaders ----------------------------------------------------------------------------


def load_user_file(
    path: str | Path,
    task: str,
    variant: str | None = None,
    *,
    text_columns: str | Sequence[str] | None = None,
    label_column: str | None = None,
    pair_column: str | None = None,
    seed: int = 0,
) -> CadDataset:
    """Load one paired file; without a ``split`` column, pairs are split 80/10/10 (seeded)."""
    task = normalize_task(task)
    table = read_table(path)
    columns = resolve_columns(table, task, text_columns, label_column, pair_column)
    rows = _parse_rows(table, task, columns)
    if columns.split is not None:
        by_split = {name: [r for r in rows if r.split == name] for name in SPLITS}
        for name, members in by_split.items():
            if not members:
                raise DataError(f"split {name!r} is empty: no row has {name!r} in column {columns.split!r}", table.path)
    else:
        by_split = _random_pair_split(rows, seed, table.path)
    variant = _user_variant(task, variant, columns.role is not None, rows, table.path)
    splits = {name: _build_split(name, by_split[name], variant) for name in SPLITS}
    return _dataset(task, variant, splits, f"user file {table.path}", [table.path])


def load_user_folder(
    folder: str | Path,
    task: str,
    variant: str | None = None,
    *,
    text_columns: str | Sequence[str] | None = None,
    label_column: str | None = None,
    pair_column: str | None = None,
) -> CadDataset:
    """Load a folder with one paired file per split: ``train.*``, ``dev.*`` and ``test.*``."""
    task = normalize_task(task)
    folder = Path(folder)
    by_split: dict[str, list[_Row]] = {}
    files: list[Path] = []
    has_roles = True
    for name in SPLITS:
        table = read_table(find_split_file(folder, name))
        columns = resolve_columns(table, task, text_columns, label_column, pair_column)
        has_roles = has_roles and columns.role is not None
        rows = _parse_rows(table, task, columns)
        if not rows:
            raise DataError(f"split {name!r} is empty (no data rows)", table.path)
        by_split[name] = rows
        files.append(table.path)
    every_row = [r for rows in by_split.values() for r in rows]
    variant = _user_variant(task, variant, has_roles, every_row, folder)
    splits = {name: _build_split(name, by_split[name], variant) for name in SPLITS}
    return _dataset(task, variant, splits, f"user folder {folder}", files)


def load_aligned_files(
    originals: str | Path,
    revisions: str | Path,
    task: str,
    variant: str | None = None,
    *,
    text_columns: str | Sequence[str] | None = None,
    label_column: str | None = None,
    seed: int = 0,
) -> CadDataset:
    """Load two aligned files: row i of ``revisions`` revises row i of ``originals``; split 80/10/10 by row."""
    task = normalize_task(task)
    factual, revised, tables = _read_aligned(originals, revisions, task, text_columns, label_column)
    variant = _user_variant(task, variant, False, [], tables[1].path)
    assignment = _split_assignment(list(range(len(factual))), seed, tables[0].path, "rows")
    splits = {}
    for name in SPLITS:
        indices = [i for i in range(len(factual)) if assignment[i] == name]
        counterfactual = [] if variant == "RAW" else [revised[i] for i in indices]
        pairs = [(k, k) for k in range(len(counterfactual))]
        splits[name] = CadSplit(name, [factual[i] for i in indices], counterfactual, pairs)
    source = f"aligned files {tables[0].path} + {tables[1].path}"
    return _dataset(task, variant, splits, source, [t.path for t in tables])


def load_user_pairs(
    path: str | Path,
    task: str,
    variant: str | None = None,
    *,
    split: str | None = None,
    text_columns: str | Sequence[str] | None = None,
    label_column: str | None = None,
    pair_column: str | None = None,
) -> tuple[CadSplit, str, list[Path]]:
    """Every pair of one paired file as one split, for evaluation: (split, variant, files).

    With ``split`` only the rows of that split (the file needs a ``split``
    column); without, the whole file, never a random share of it.
    """
    task = normalize_task(task)
    table = read_table(path)
    columns = resolve_columns(table, task, text_columns, label_column, pair_column)
    rows = _parse_rows(table, task, columns)
    if split is not None:
        wanted = SPLIT_NAMES.get(split.strip().lower())
        if wanted is None:
            raise ConfigError(f"split = {split!r} is not a split name; use train, dev or test")
        if columns.split is None:
            raise ConfigError(f"split = {split!r}, but {table.path} has no 'split' column: leave the split out "
                              "to use every pair in it")
        rows = [r for r in rows if r.split == wanted]
        if not rows:
            raise DataError(f"split {wanted!r} is empty: no row has {wanted!r} in column {columns.split!r}", table.path)
    if not rows:
        raise DataError("file has no data rows", table.path)
    variant = _user_variant(task, variant, columns.role is not None, rows, table.path)
    return _build_split(split or "test", rows, variant), variant, [table.path]


def load_aligned_pairs(
    originals: str | Path,
    revisions: str | Path,
    task: str,
    *,
    text_columns: str | Sequence[str] | None = None,
    label_column: str | None = None,
) -> tuple[CadSplit, list[Path]]:
    """Every row of two aligned files as one split of pairs, for evaluation: (split, files)."""
    task = normalize_task(task)
    factual, revised, tables = _read_aligned(originals, revisions, task, text_columns, label_column)
    return CadSplit("test", factual, revised, [(k, k) for k in range(len(factual))]), [t.path for t in tables]


def _read_aligned(originals, revisions, task: str, text_columns, label_column) -> tuple[list, list, list]:
    """(originals' examples, revisions' examples, the two tables) of two files aligned row by row;
    DataError naming the file when one is empty or their row counts differ."""
    tables = [read_table(originals), read_table(revisions)]
    examples = []
    for table in tables:
        columns = resolve_columns(table, task, text_columns, label_column, pair_column=None, need_pair=False)
        if not table.rows:
            raise DataError("file has no data rows", table.path)
        examples.append([_example(table, i, task, columns) for i in range(len(table.rows))])
    factual, revised = examples
    if len(factual) != len(revised):
        raise DataError(f"has {len(revised)} rows but the originals file {tables[0].path} has {len(factual)}; "
                        "aligned files need one revision per original", tables[1].path)
    return factual, revised, tables


def find_split_file(folder: Path, split: str) -> Path:
    """The one ``{split}.<ext>`` table file in ``folder``; DataError if missing or ambiguous."""
    candidates = sorted(p for p in folder.glob(f"{split}.*") if p.suffix.lower() in TABLE_FORMATS)
    if not candidates:
        found = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
        raise DataError(f"missing file {split}.csv/.tsv/.jsonl/.parquet (found: {found})", folder)
    if len(candidates) > 1:
        raise DataError(f"more than one {split} file: {', '.join(p.name for p in candidates)}", folder)
    return candidates[0]


def is_user_folder(folder: str | Path) -> bool:
    """True if ``folder`` holds a train.* table file (the one-file-per-split layout)."""
    folder = Path(folder)
    return folder.is_dir() and any(p.suffix.lower() in TABLE_FORMATS for p in folder.glob("train.*"))


# --- columns --------------------------------------------------------------------------------------


def resolve_columns(
    table: Table,
    task: str,
    text_columns: str | Sequence[str] | None,
    label_column: str | None,
    pair_column: str | None,
    *,
    need_pair: bool = True,
) -> Columns:
    """Find the text, label, pair, split and role columns of ``table`` (names matched case-insensitively)."""
    width = 1 if task == "sentiment" else 2
    missing: list[str] = []  # every missing column is named at once: a file without labels is not "missing text_a"

    def look(find):
        try:
            return find()
        except DataError as exc:
            missing.append(exc.detail.split(" (columns found:")[0].removeprefix("missing "))
            return None

    if text_columns is not None:
        wanted = (text_columns,) if isinstance(text_columns, str) else tuple(text_columns)
        if len(wanted) != width:
            raise ConfigError(f"task {task!r} needs {width} text column(s), got {list(wanted)!r}")
        text = tuple(look(lambda name=name: table.require_column(name, "text column")) for name in wanted)
    else:
        text = look(lambda: _first_present(table, TEXT_CANDIDATES[task], "text column"))
    label = look(lambda: table.require_column(label_column, "label column") if label_column
                 else _first_present(table, [(c,) for c in LABEL_CANDIDATES], "label column")[0])
    pair = None
    if need_pair:
        pair = look(lambda: table.require_column(pair_column, "pair id column") if pair_column
                    else _first_present(table, [(c,) for c in PAIR_CANDIDATES], "pair id column")[0])
    if missing:
        raise DataError(f"missing {', '.join(missing)} (columns found: {', '.join(map(repr, table.columns))})", table.path, 1)
    return Columns(text, label, pair, table.find_column("split"), table.find_column("role"))


def _first_present(table: Table, candidates: list[tuple[str, ...]], what: str) -> tuple[str, ...]:
    for names in candidates:
        found = [table.find_column(n) for n in names]
        if all(found):
            return tuple(found)  # type: ignore[arg-type]
    if len(candidates[0]) == 1:
        table.require_column(candidates[0][0], what)  # raises, naming the usual name
    names = " or ".join("/".join(names) for names in candidates)
    raise DataError(f"missing {what}s {names} (columns found: {', '.join(map(repr, table.columns))})", table.path, 1)


# --- rows -----------------------------------------------------------------------------------------


def _example(table: Table, index: int, task: str, columns: Columns) -> Example:
    texts = [cell_text(table, index, c) for c in columns.text]
    label = cell_label(table, index, columns.label, task)
    return Example(texts[0], texts[1] if len(texts) > 1 else None, label)


def _parse_rows(table: Table, task: str, columns: Columns) -> list[_Row]:
    rows = []
    for index, values in enumerate(table.rows):
        example = _example(table, index, task, columns)
        pair_id = values[columns.pair].strip()
        if not pair_id:
            raise DataError(f"empty pair id in column {columns.pair!r}", table.path, table.line(index))
        split = None
        if columns.split is not None:
            raw = values[columns.split]
            split = SPLIT_NAMES.get(raw.strip().lower())
            if split is None:
                raise DataError(f"unknown split {raw!r} in column {columns.split!r}; use train, dev or test", table.path, table.line(index))
        role = values[columns.role] if columns.role is not None else None
        rows.append(_Row(table, index, example, pair_id, role, split))
    return rows


def _random_pair_split(rows: list[_Row], seed: int, path: Path) -> dict[str, list[_Row]]:
    pair_ids = list(OrderedDict.fromkeys(r.pair_id for r in rows))
    assignment = _split_assignment(pair_ids, seed, path, "pairs")
    return {name: [r for r in rows if assignment[r.pair_id] == name] for name in SPLITS}


def _split_assignment(keys: list, seed: int, path: Path, what: str) -> dict:
    """Map each key to train/dev/test, 80/10/10, shuffled by ``seed`` (stable for a given file)."""
    if len(keys) < 3:
        raise DataError(f"only {len(keys)} {what}: at least 3 are needed to split into train/dev/test (split 'dev' would be empty)", path)
    order = list(keys)
    random.Random(seed).shuffle(order)
    n_dev = max(1, round(len(order) * SPLIT_FRACTIONS[1]))
    n_test = max(1, round(len(order) * SPLIT_FRACTIONS[2]))
    n_train = len(order) - n_dev - n_test
    names = ["train"] * n_train + ["dev"] * n_dev + ["test"] * n_test
    return dict(zip(order, names))


# --- variants and splits ---------------------------------------------------------------------------


def _user_variant(task: str, variant: str | None, has_roles: bool, rows: list[_Row], where: Path) -> str:
    """Check the variant against what the data can give.

    Without NLI roles (RP1..RH2) the NLI default is ALL instead of RH1.
    """
    written = {r.role.strip() for r in rows if r.role is not None and not r.is_original}
    roles = {role.upper() for role in written}
    if variant is None and task == "nli" and DEFAULT_VARIANTS["nli"] not in roles:
        variant = "ALL"
    variant = normalize_variant(task, variant)
    if not has_roles and variant not in ("CAD", "ALL", "RAW"):
        raise ConfigError(
            f"variant {variant!r} needs a 'role' column (values original, RP1, RP2, RH1, RH2) in {where}; "
            f"without one use ALL or RAW"
        )
    if variant in ROLE_SELECTION and not roles & ROLE_SELECTION[variant]:
        found = ", ".join(sorted(map(repr, written))) or "none"
        raise ConfigError(
            f"variant {variant!r} selects revisions with role {' or '.join(sorted(ROLE_SELECTION[variant]))}, "
            f"but {where} has revision roles: {found}"
        )
    return variant


def _selected(row: _Row, variant: str) -> bool:
    if variant == "RAW":
        return False
    if variant in ("CAD", "ALL"):
        return True
    return row.role is not None and row.role.strip().upper() in ROLE_SELECTION[variant]


def _build_split(name: str, rows: list[_Row], variant: str) -> CadSplit:
    """Group rows by pair id, check each pair has one original and a revision, select revisions."""
    groups: OrderedDict[str, list[_Row]] = OrderedDict()
    for row in rows:
        groups.setdefault(row.pair_id, []).append(row)
    factual: list[Example] = []
    factual_index: dict[str, int] = {}
    originals: set[int] = set()
    for pair_id, members in groups.items():
        original = _original_of(pair_id, members)
        if len(members) == 1:
            raise DataError(f"pair {pair_id!r} has no revision (unpaired)", original.table.path, original.line)
        originals.add(id(original))
        factual_index[pair_id] = len(factual)
        factual.append(original.example)
    counterfactual: list[Example] = []
    pairs: list[tuple[int, int]] = []
    for row in rows:
        if id(row) not in originals and _selected(row, variant):
            pairs.append((factual_index[row.pair_id], len(counterfactual)))
            counterfactual.append(row.example)
    return CadSplit(name, factual, counterfactual, pairs)


def _original_of(pair_id: str, members: list[_Row]) -> _Row:
    if members[0].role is None:  # no role column: the first row is the original
        return members[0]
    found = [r for r in members if r.is_original]
    if not found:
        lines = ", ".join(str(r.line) for r in members)
        raise DataError(f"pair {pair_id!r} has no original row (role 'original'; rows at lines {lines})", members[0].table.path, members[0].line)
    if len(found) > 1:
        raise DataError(
            f"pair {pair_id!r} has a duplicated original: role {found[1].role!r} also at line {found[0].line}",
            found[1].table.path,
            found[1].line,
        )
    return found[0]


def _dataset(task: str, variant: str, splits: dict[str, CadSplit], source: str, files: list[Path]) -> CadDataset:
    return CadDataset(task, variant, labels_for(task), splits["train"], splits["dev"], splits["test"], source, files)
