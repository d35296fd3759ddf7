"""The unpadded path (train.unpadded): the same logits, gradients and training losses as the padded path."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from cast_engine.config import RunConfig, TrainConfig
from cast_engine.errors import ConfigError
from cast_engine.train.batches import TokenizedSet, collate, concat
from cast_engine.train.trainer import TokenizedSplit, Trainer, TrainingData
from cast_engine.train.unpadded import unpadded_logits, unpadded_problem

LENGTHS = (5, 17, 9, 3, 12, 17, 8, 1 + 1, 14, 6, 11, 4)


class PadOnly:
    pad_token_id = 0


def tiny_bert(dropout: float = 0.0) -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, num_labels=3,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return BertForSequenceClassification(config)


def token_set(seed: int, lengths=LENGTHS) -> TokenizedSet:
    g = torch.Generator().manual_seed(seed)
    ids = [[101] + torch.randint(5, 120, (n - 1,), generator=g).tolist() for n in lengths]
    labels = torch.randint(0, 3, (len(lengths),), generator=g).tolist()
    return TokenizedSet({"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids],
                         "token_type_ids": [[0] * len(row) for row in ids]}, labels)


def test_logits_and_gradients_equal_the_padded_path():
    model = tiny_bert()
    inputs, labels = collate(token_set(1), list(range(len(LENGTHS))), 0, torch.device("cpu"))
    assert (inputs["attention_mask"] == 0).any()  # the batch really holds padding
    padded = model(**inputs).logits
    torch.nn.functional.cross_entropy(padded, labels).backward()
    padded_grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    unpadded = unpadded_logits(model, **inputs)
    torch.nn.functional.cross_entropy(unpadded, labels).backward()
    assert torch.allclose(unpadded, padded, atol=1e-5)
    assert padded_grads.keys() == {name for name, p in model.named_parameters() if p.grad is not None}
    for name, grad in padded_grads.items():
        assert torch.allclose(dict(model.named_parameters())[name].grad, grad, atol=1e-5, rtol=1e-4), name


def trainer(unpadded: bool, bf16: bool = False) -> tuple[Trainer, TrainingData]:
    fac, cf = token_set(1), token_set(2)
    empty = token_set(3, ())
    data = TrainingData(fac, cf, concat([fac, cf]), TokenizedSplit(fac, cf, []), TokenizedSplit(empty, empty, []), 3)
    config = RunConfig(train=TrainConfig(batch_size=4, lr=1e-3, bf16=bf16, device="cpu", unpadded=unpadded,
                                         log_every=1, seed=3))
    run = Trainer(tiny_bert(), PadOnly(), config, data, torch.device("cpu"), lambda event: None)
    run.new_optimizer(100)
    return run, data


@pytest.mark.parametrize("bf16, tolerance", [(False, 1e-5), (True, 2e-2)])
def test_training_losses_equal_the_padded_path(bf16, tolerance):
    losses, predictions = {}, {}
    for unpadded in (False, True):
        run, data = trainer(unpadded, bf16)
        run.epoch = 1
        losses[unpadded] = [run.train_pass(data.factual, "factual"), run.train_pass(data.counterfactual, "cf", 1)]
        predictions[unpadded] = run.predict(data.union)
    assert losses[True] == pytest.approx(losses[False], abs=tolerance)
    if not bf16:
        assert predictions[True] == predictions[False]


def test_a_model_with_changed_layers_is_refused_by_name():
    model = tiny_bert()

    class Wrapped(type(model.bert.encoder.layer[1].output)):
        pass

    model.bert.encoder.layer[1].output.__class__ = Wrapped
    assert "layer 1's output is a Wrapped" in unpadded_problem(model)
    with pytest.raises(ConfigError, match="train.unpadded: layer 1's output is a Wrapped"):
        Trainer(model, PadOnly(), RunConfig(train=TrainConfig(unpadded=True, device="cpu")),
                None, torch.device("cpu"), lambda event: None)
    assert "BERT classifiers only, not Linear" in unpadded_problem(torch.nn.Linear(2, 2))
