"""Plain containers for counterfactually augmented data (no torch, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TASKS = ("sentiment", "nli")
SPLITS = ("train", "dev", "test")
SENTIMENT_LABELS = ["Negative", "Positive"]
NLI_LABELS = ["entailment", "neutral", "contradiction"]
NLI_VARIANTS = ("RAW", "RP1", "RP2", "RH1", "RH2", "RP", "RH", "ALL")
SENTIMENT_VARIANTS = ("RAW", "CAD")


@dataclass(frozen=True, slots=True)  # slots: a dataset holds one per example
class Example:
    """One example: a text (or sentence pair) and its label index."""

    text_a: str
    text_b: str | None
    label: int


@dataclass
class CadSplit:
    """One split (train, dev or test) of a CAD dataset.

    ``pairs`` links each counterfactual to the factual example it revises:
    ``(factual_index, counterfactual_index)``. A factual example may have
    several revisions (NLI variants RP, RH, ALL) or none (variant RAW).
    """

    name: str
    factual: list[Example]
    counterfactual: list[Example]
    pairs: list[tuple[int, int]]
    unconfirmed_pairs: int = 0

    def __post_init__(self) -> None:
        for f, c in self.pairs:
            assert 0 <= f < len(self.factual) and 0 <= c < len(self.counterfactual)


@dataclass
class CadDataset:
    """A CAD dataset variant: labels, three splits and where it came from."""

    task: str
    variant: str
    labels: list[str]
    train: CadSplit
    dev: CadSplit
    test: CadSplit
    source: str
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a user should know about this data (shown with a run)

    def split(self, name: str) -> CadSplit:
        return {"train": self.train, "dev": self.dev, "test": self.test}[name]


# --- helpers shared by the loaders (no I/O) -------------------------------------

DEFAULT_VARIANTS = {"sentiment": "CAD", "nli": "RH1"}

# Short forms accepted for each task's labels (matched case-insensitively).
LABEL_ALIASES = {
    "sentiment": {"negative": 0, "neg": 0, "0": 0, "positive": 1, "pos": 1, "1": 1},
    "nli": {"entailment": 0, "e": 0, "neutral": 1, "n": 1, "contradiction": 2, "c": 2},
}


def normalize_task(task: str) -> str:
    """Return the canonical task name ("sentiment" or "nli"); ConfigError otherwise."""
    from cast_engine.errors import ConfigError

    name = str(task).strip().lower()
    if name not in TASKS:
        raise ConfigError(f"unknown task {task!r}; allowed: {', '.join(TASKS)}")
    return name


def labels_for(task: str) -> list[str]:
    """The label names of a task, in label-index order."""
    return list(SENTIMENT_LABELS if normalize_task(task) == "sentiment" else NLI_LABELS)


def variants_for(task: str) -> tuple[str, ...]:
    """The dataset variants a task knows."""
    return SENTIMENT_VARIANTS if normalize_task(task) == "sentiment" else NLI_VARIANTS


def normalize_variant(task: str, variant: str | None) -> str:
    """Upper-case a variant name (None gives the task's default); ConfigError if unknown."""
    from cast_engine.errors import ConfigError

    task = normalize_task(task)
    if variant is None:
        return DEFAULT_VARIANTS[task]
    name = str(variant).strip().upper()
    allowed = variants_for(task)
    if name not in allowed:
        raise ConfigError(f"unknown {task} variant {variant!r}; allowed: {', '.join(allowed)}")
    return name


def label_index(task: str, value: str) -> int | None:
    """The label index for a label name or short form, or None if not recognised."""
    return LABEL_ALIASES[normalize_task(task)].get(str(value).strip().lower())


def accepted_labels(task: str) -> list[str]:
    """Every spelling label_index accepts (for error messages)."""
    names = labels_for(task)
    aliases = [a for a in LABEL_ALIASES[normalize_task(task)] if a not in {n.lower() for n in names}]
    return names + aliases
