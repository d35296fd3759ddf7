"""Loaders for the Kaushik et al. (2020) CAD folder layout (sentiment and NLI)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from cast_engine.data.reading import Table, cell_label, cell_text, read_table
from cast_engine.data.types import (
    SPLITS,
    CadDataset,
    CadSplit,
    Example,
    labels_for,
    normalize_task,
    normalize_variant,
)
from cast_engine.errors import DataError

SENTIMENT_COLUMNS = ("Sentiment", "Text", "batch_id")
NLI_COLUMNS = ("sentence1", "sentence2", "gold_label")

# NLI variant -> the revised files it uses and which revision of each original (None = both)
NLI_SELECTION: dict[str, list[tuple[str, int | None]]] = {
    "RAW": [],
    "RP1": [("revised_premise", 0)],
    "RP2": [("revised_premise", 1)],
    "RH1": [("revised_hypothesis", 0)],
    "RH2": [("revised_hypothesis", 1)],
    "RP": [("revised_premise", None)],
    "RH": [("revised_hypothesis", None)],
    "ALL": [("revised_premise", None), ("revised_hypothesis", None)],
}
# the sentence a revision keeps unchanged: premise revisions keep the hypothesis and vice versa
UNCHANGED_COLUMN = {"revised_premise": "sentence2", "revised_hypothesis": "sentence1"}


def is_kaushik_folder(path: str | Path) -> bool:
    """True if ``path`` holds a ``sentiment/`` or ``NLI/`` folder of the Kaushik layout."""
    path = Path(path)
    return (path / "sentiment").is_dir() or (path / "NLI").is_dir()


def load_kaushik(root: str | Path, task: str, variant: str | None = None) -> CadDataset:
    """Load a variant of the sentiment or NLI data from a folder laid out like Kaushik et al.'s repository."""
    task = normalize_task(task)
    variant = normalize_variant(task, variant)
    root = Path(root)
    if not root.is_dir():
        raise DataError("folder not found", root)
    if task == "sentiment":
        return load_kaushik_sentiment(root, variant)
    return load_kaushik_nli(root, variant)


# --- sentiment ------------------------------------------------------------------------------


def load_kaushik_sentiment(root: str | Path, variant: str = "CAD") -> CadDataset:
    """Sentiment pairs from ``sentiment/combined/paired`` (or ``orig/`` + ``new/`` row by row)."""
    variant = normalize_variant("sentiment", variant)
    folder = Path(root) / "sentiment"
    paired = folder / "combined" / "paired"
    files: list[Path] = []
    splits: dict[str, CadSplit] = {}
    if paired.is_dir():
        for name in SPLITS:
            table = _read_required(paired / f"{name}_paired.tsv", SENTIMENT_COLUMNS)
            files.append(table.path)
            splits[name] = _sentiment_split_from_batches(name, table, variant)
        source = f"Kaushik et al. CAD (sentiment, paired files) at {root}"
    elif (folder / "orig").is_dir() and (folder / "new").is_dir():
        for name in SPLITS:
            originals = _read_required(folder / "orig" / f"{name}.tsv", SENTIMENT_COLUMNS[:2])
            revisions = _read_required(folder / "new" / f"{name}.tsv", SENTIMENT_COLUMNS[:2])
            files += [originals.path, revisions.path]
            splits[name] = _sentiment_split_from_rows(name, originals, revisions, variant)
        source = f"Kaushik et al. CAD (sentiment, orig/new paired by row) at {root}"
    else:
        raise DataError(
            "no sentiment data: expected the folder sentiment/combined/paired "
            "(or sentiment/orig and sentiment/new)",
            folder,
        )
    return CadDataset("sentiment", variant, labels_for("sentiment"), splits["train"], splits["dev"], splits["test"], source, files)


def _sentiment_example(table: Table, index: int) -> Example:
    return Example(cell_text(table, index, "Text"), None, cell_label(table, index, "Sentiment", "sentiment"))


def _sentiment_split_from_batches(name: str, table: Table, variant: str) -> CadSplit:
    _require_rows(table, name)
    batches: OrderedDict[str, list[int]] = OrderedDict()
    for index, row in enumerate(table.rows):
        batch_id = row["batch_id"].strip()
        if not batch_id:
            raise DataError("empty batch_id", table.path, table.line(index))
        batches.setdefault(batch_id, []).append(index)
    factual: list[Example] = []
    counterfactual: list[Example] = []
    pairs: list[tuple[int, int]] = []
    for batch_id, indices in batches.items():
        if len(indices) != 2:
            where = indices[2] if len(indices) > 2 else indices[0]
            problem = "is unpaired (1 row)" if len(indices) == 1 else f"has {len(indices)} rows (duplicated)"
            lines = ", ".join(str(table.line(i)) for i in indices)
            raise DataError(
                f"batch_id {batch_id!r} {problem}; expected exactly 2 rows, an original and its revision (lines {lines})",
                table.path,
                table.line(where),
            )
        factual.append(_sentiment_example(table, indices[0]))
        revision = _sentiment_example(table, indices[1])
        if variant == "CAD":
            pairs.append((len(factual) - 1, len(counterfactual)))
            counterfactual.append(revision)
    return CadSplit(name, factual, counterfactual, pairs)


def _sentiment_split_from_rows(name: str, originals: Table, revisions: Table, variant: str) -> CadSplit:
    _require_rows(originals, name)
    _require_same_length(originals, revisions, 1)
    factual = [_sentiment_example(originals, i) for i in range(len(originals.rows))]
    revised = [_sentiment_example(revisions, i) for i in range(len(revisions.rows))]
    if variant == "RAW":
        return CadSplit(name, factual, [], [])
    return CadSplit(name, factual, revised, [(i, i) for i in range(len(factual))])


# --- NLI ----------------------------------------------------------------------------------------


def load_kaushik_nli(root: str | Path, variant: str = "RH1") -> CadDataset:
    """NLI originals plus the premise/hypothesis revisions the variant selects.

    Rows 2i and 2i+1 of a revised file revise row i of ``NLI/original``. The pairing
    is by position; ``CadSplit.unconfirmed_pairs`` counts the originals whose
    revision block (in a file the variant uses) has a row whose unchanged sentence
    differs from the original's.
    """
    variant = normalize_variant("nli", variant)
    folder = Path(root) / "NLI"
    if not folder.is_dir():
        raise DataError("missing folder NLI (expected NLI/original, NLI/revised_premise, NLI/revised_hypothesis)", folder)
    files: list[Path] = []
    splits: dict[str, CadSplit] = {}
    for name in SPLITS:
        original = _read_required(folder / "original" / f"{name}.tsv", NLI_COLUMNS)
        files.append(original.path)
        _require_rows(original, name)
        factual = [_nli_example(original, i) for i in range(len(original.rows))]
        counterfactual: list[Example] = []
        pairs: list[tuple[int, int]] = []
        unconfirmed = 0
        for kind, which in NLI_SELECTION[variant]:
            revised = _read_required(folder / kind / f"{name}.tsv", NLI_COLUMNS)
            files.append(revised.path)
            _require_same_length(original, revised, 2)
            unconfirmed += _count_unconfirmed(original, revised, UNCHANGED_COLUMN[kind])
            for index in range(len(revised.rows)):
                if which is None or index % 2 == which:
                    pairs.append((index // 2, len(counterfactual)))
                    counterfactual.append(_nli_example(revised, index))
        splits[name] = CadSplit(name, factual, counterfactual, pairs, unconfirmed)
    source = f"Kaushik et al. CAD (NLI) at {root}"
    return CadDataset("nli", variant, labels_for("nli"), splits["train"], splits["dev"], splits["test"], source, files)


def _nli_example(table: Table, index: int) -> Example:
    return Example(
        cell_text(table, index, "sentence1"),
        cell_text(table, index, "sentence2"),
        cell_label(table, index, "gold_label", "nli"),
    )


def _count_unconfirmed(original: Table, revised: Table, unchanged: str) -> int:
    """Originals whose two revisions do not both keep the unchanged sentence verbatim."""
    count = 0
    for i, row in enumerate(original.rows):
        block = revised.rows[2 * i : 2 * i + 2]
        if any(r[unchanged] != row[unchanged] for r in block):
            count += 1
    return count


# --- shared checks ---------------------------------------------------------------------------------


def _read_required(path: Path, columns: tuple[str, ...]) -> Table:
    if not path.parent.is_dir():
        raise DataError(f"missing folder {path.parent.name!r} (expected file {path.name})", path.parent)
    if not path.is_file():
        raise DataError(f"missing file {path.name!r} (expected in {path.parent})", path)
    table = read_table(path)
    for name in columns:
        if name not in table.columns:
            raise DataError(f"missing column {name!r} (columns found: {', '.join(map(repr, table.columns))})", path, 1)
    return table


def _require_rows(table: Table, split: str) -> None:
    if not table.rows:
        raise DataError(f"split {split!r} is empty (no data rows)", table.path)


def _require_same_length(original: Table, revised: Table, factor: int) -> None:
    expected = factor * len(original.rows)
    if len(revised.rows) != expected:
        per_row = "one revision" if factor == 1 else f"{factor} revisions"
        raise DataError(
            f"has {len(revised.rows)} rows, expected {expected} ({per_row} of each of the "
            f"{len(original.rows)} rows of {original.path})",
            revised.path,
        )
