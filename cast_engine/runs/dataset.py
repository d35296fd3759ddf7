"""From a data config to the dataset a run trains on (no torch)."""

from __future__ import annotations

from ..data.types import CadDataset, CadSplit
from ..settings import DataConfig, is_keyword_source


def load_data(cfg: DataConfig, cache_dir: str | None = None) -> CadDataset:
    """Load the configured dataset variant, limited to the first N originals if asked.

    The one loader of the product: training, `cast data` and the studio's Data
    page preview all call it, so the preview is what trains. The demo and the
    upstream data have fixed columns: the column settings apply to user files.
    ``cache_dir``: where 'upstream' downloads to (default: the user cache).
    """
    from ..data import load_cad

    user_file = not is_keyword_source(cfg.data)
    columns = [c.strip() for c in cfg.text_columns.split(",") if c.strip()] or None
    dataset = load_cad(
        cfg.data, cfg.task, cfg.variant or None,  # the loader picks the default variant of the source; '' is refused
        text_columns=columns if user_file else None, label_column=(cfg.label_column or None) if user_file else None,
        pair_column=(cfg.pair_column or None) if user_file else None, revision_file=cfg.revision_file or None,
        cache_dir=cache_dir,
    )
    for field, names in (("train_limit", ("train",)), ("eval_limit", ("dev", "test"))):
        n = getattr(cfg, field)
        for name in names if n else ():
            whole = dataset.split(name)
            setattr(dataset, name, limit_split(whole, n))
            note = lopsided_limit_note(field, n, whole, dataset.split(name), dataset.labels)
            if note:
                dataset.notes.append(note)
    return dataset


def lopsided_limit_note(field: str, n: int, whole: CadSplit, limited: CadSplit, labels: list[str]) -> str | None:
    """A note when the first ``n`` originals hold (nearly) one label though the whole split does not:
    files ordered by label (the Kaushik et al. sentiment files list the negative reviews first)."""
    def counts(split: CadSplit) -> list[int]:
        found = [0] * len(labels)
        for example in split.factual:
            found[example.label] += 1
        return found

    part, full = counts(limited), counts(whole)
    if not limited.factual or max(part) < 0.95 * len(limited.factual) or max(full) >= 0.8 * len(whole.factual):
        return None
    shown = ", ".join(f"{label} {count}" for label, count in zip(labels, part))
    overall = ", ".join(f"{label} {count}" for label, count in zip(labels, full))
    effect = ("a method that trains on the originals alone (CAST's factual pass, the No CAD regime) sees one class"
              if whole.name == "train" else "accuracy on them says little beyond how often the model predicts that label")
    return (f"{field} {n}: the first {n} {whole.name} originals hold nearly one label ({shown}; the whole split: "
            f"{overall}), as the file lists them by label; {effect}. Use a larger limit or a file that mixes the labels.")


def limit_split(split: CadSplit, n: int) -> CadSplit:
    """The first n factual examples of a split and the revisions paired with them."""
    if n >= len(split.factual):
        return split
    kept_pairs = [(f, c) for f, c in split.pairs if f < n]
    cf_index = {c: i for i, c in enumerate(sorted({c for _, c in kept_pairs}))}
    return CadSplit(
        split.name,
        split.factual[:n],
        [split.counterfactual[c] for c in sorted(cf_index)],
        [(f, cf_index[c]) for f, c in kept_pairs],
        split.unconfirmed_pairs,
    )
