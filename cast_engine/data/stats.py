"""Counts that describe a CAD dataset: sizes, labels and label pairs per split."""

from __future__ import annotations

from collections import Counter

from cast_engine.data.types import SPLITS, CadDataset, CadSplit



def unordered_pair_name(labels: list[str], a: int, b: int) -> str:
    """Name of the unordered label pair {a, b} as in the CAST paper's Figure 3.

    Labels are read in cyclic order, so NLI gives "entailment-neutral",
    "neutral-contradiction" and "contradiction-entailment".
    """
    n = len(labels)
    if a == b:
        return f"{labels[a]}-{labels[b]}"
    forward, backward = (b - a) % n, (a - b) % n
    first, second = (a, b) if (forward, a) < (backward, b) else (b, a)
    return f"{labels[first]}-{labels[second]}"


def unordered_pair_names(labels: list[str]) -> list[str]:
    """Every unordered pair of two different labels, neighbours in cyclic order first."""
    n = len(labels)
    names: list[str] = []
    for distance in range(1, n // 2 + 1):
        for a in range(n):
            name = unordered_pair_name(labels, a, (a + distance) % n)
            if name not in names:
                names.append(name)
    return names


def split_stats(split: CadSplit, labels: list[str]) -> dict:
    """Counts for one split (see dataset_stats)."""
    factual_labels = Counter(e.label for e in split.factual)
    counter_labels = Counter(e.label for e in split.counterfactual)
    ordered: Counter[str] = Counter()
    unordered: Counter[str] = Counter({name: 0 for name in unordered_pair_names(labels)})
    same = 0
    for f, c in split.pairs:
        a, b = split.factual[f].label, split.counterfactual[c].label
        ordered[f"{labels[a]}→{labels[b]}"] += 1
        if a == b:
            same += 1
        else:
            unordered[unordered_pair_name(labels, a, b)] += 1
    return {
        "factual": len(split.factual),
        "counterfactual": len(split.counterfactual),
        "pairs": len(split.pairs),
        "unconfirmed_pairs": split.unconfirmed_pairs,
        "factual_labels": {name: factual_labels.get(i, 0) for i, name in enumerate(labels)},
        "counterfactual_labels": {name: counter_labels.get(i, 0) for i, name in enumerate(labels)},
        "label_pairs": dict(sorted(ordered.items())),
        "label_pairs_unordered": dict(unordered),
        "same_label_pairs": same,
    }


def dataset_stats(ds: CadDataset) -> dict:
    """Per split: example, pair and unconfirmed-pair counts, label counts and label-pair counts.

    ``label_pairs`` counts ordered "factual→counterfactual" label pairs;
    ``label_pairs_unordered`` counts pairs of different labels by Figure 3's names.
    """
    return {
        "task": ds.task,
        "variant": ds.variant,
        "labels": list(ds.labels),
        "source": ds.source,
        "splits": {name: split_stats(ds.split(name), ds.labels) for name in SPLITS},
    }


def format_stats(stats: dict) -> str:
    """A plain-text table of dataset_stats() for the command line."""
    splits = stats["splits"]
    lines = [f"{stats['task']} / {stats['variant']}  ({stats['source']})", ""]
    size_keys = ["factual", "counterfactual", "pairs", "unconfirmed_pairs"]
    lines += _table(["split"] + [k.replace("_", " ") for k in size_keys], [[name] + [splits[name][k] for k in size_keys] for name in splits])
    lines += ["", "labels (factual / counterfactual)"]
    labels = stats["labels"]
    rows = [[name] + [f"{s['factual_labels'][label]} / {s['counterfactual_labels'][label]}" for label in labels] for name, s in splits.items()]
    lines += _table(["split"] + labels, rows)
    pair_names = list(next(iter(splits.values()))["label_pairs_unordered"]) if splits else []
    lines += ["", "label pairs (factual-counterfactual, either order)"]
    rows = [[name] + [s["label_pairs_unordered"][p] for p in pair_names] + [s["same_label_pairs"]] for name, s in splits.items()]
    lines += _table(["split"] + pair_names + ["same label"], rows)
    return "\n".join(lines)


def _table(header: list[str], rows: list[list]) -> list[str]:
    cells = [[str(v) for v in header]] + [[str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    out = []
    for number, row in enumerate(cells):
        out.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))).rstrip())
        if number == 0:
            out.append("  ".join("-" * w for w in widths))
    return out
