"""From a data config to tokenised training sets and evaluation splits."""

from __future__ import annotations

from ..config import DataConfig, RunConfig
from ..data.types import CadDataset, CadSplit
from .batches import concat, tokenize_examples
from .trainer import TokenizedSplit, TrainingData


def load_data(cfg: DataConfig) -> CadDataset:
    """Load the configured dataset variant, limited to the first N originals if asked."""
    from ..data import load_cad

    columns = [c.strip() for c in cfg.text_columns.split(",") if c.strip()] or None
    dataset = load_cad(
        cfg.data, cfg.task, cfg.variant or None,  # the loader picks the default variant of the source; '' is refused
        text_columns=columns, label_column=cfg.label_column or None,
        pair_column=cfg.pair_column or None, revision_file=cfg.revision_file or None,
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


def tokenize_data(dataset: CadDataset, tokenizer, config: RunConfig) -> TrainingData:
    """Tokenise every set the run needs (each cached by content)."""
    length = config.train.max_length

    def tok(examples):
        return tokenize_examples(examples, tokenizer, length)

    def split(s: CadSplit) -> TokenizedSplit:
        return TokenizedSplit(tok(s.factual), tok(s.counterfactual), list(s.pairs))

    factual = tok(dataset.train.factual)
    counterfactual = tok(dataset.train.counterfactual)
    union = concat([factual, counterfactual]) if len(counterfactual) else factual
    return TrainingData(factual, counterfactual, union, split(dataset.dev), split(dataset.test), len(dataset.labels))
