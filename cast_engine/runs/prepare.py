"""From a loaded dataset (``runs.dataset``) to tokenised training sets and evaluation splits."""

from __future__ import annotations

from ..config import RunConfig
from ..data.types import CadDataset, CadSplit
from ..train.batches import concat, tokenize_examples
from ..train.trainer import TokenizedSplit, TrainingData


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
