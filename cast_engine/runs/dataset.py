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
    if cfg.train_limit:
        dataset.train = limit_split(dataset.train, cfg.train_limit)
    if cfg.eval_limit:
        dataset.dev = limit_split(dataset.dev, cfg.eval_limit)
        dataset.test = limit_split(dataset.test, cfg.eval_limit)
    return dataset


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
