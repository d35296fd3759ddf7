"""BERT's classifier forward pass on the real tokens only: padding removed, variable-length attention.

A padded batch spends its encoder's matrix multiplies, layer norms and GELUs
on padding too, and the padding mask keeps ``scaled_dot_product_attention``
off its fused flash kernel. Here the embeddings are computed as usual, the
padding is dropped (the tokens of every example packed into one
``(tokens, hidden)`` tensor), every layer runs on the packed tokens, and
attention runs on a jagged nested tensor (``torch.nested``, one sequence per
example), which SDPA on CUDA gives to its variable-length fused kernels with
no mask at all. The layers' own modules compute everything (the weights, their
names and their gradients are the model's), so masks, snapshots and exports are
unchanged; the logits equal the padded path's up to rounding.

Hugging Face's BERT classifier only (``BertForSequenceClassification``, which
MiniLM and other BERT-architecture checkpoints load as), without wrappers that
change its layers (adapters, LoRA): ``unpadded_problem`` says why a model
cannot take this path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def unpadded_problem(model) -> str | None:
    """Why ``model`` cannot run unpadded (None when it can)."""
    from transformers import BertForSequenceClassification
    from transformers.models.bert import modeling_bert as bert

    if not isinstance(model, BertForSequenceClassification):
        return f"the unpadded path runs BERT classifiers only, not {type(model).__name__}"
    config = model.config
    if getattr(config, "position_embedding_type", "absolute") != "absolute" or config.is_decoder:
        return "the unpadded path needs an encoder with absolute position embeddings"
    plain = {"attention.self": (bert.BertSelfAttention, getattr(bert, "BertSdpaSelfAttention", bert.BertSelfAttention)),
             "attention.output": (bert.BertSelfOutput,), "intermediate": (bert.BertIntermediate,),
             "output": (bert.BertOutput,)}
    for index, layer in enumerate(model.bert.encoder.layer):
        for path, classes in plain.items():
            module = layer.get_submodule(path)
            if type(module) not in classes:  # a subclass (adapters) may compute more than the plain layer
                return (f"layer {index}'s {path} is a {type(module).__name__} (a method changed the layers); "
                        "the unpadded path runs plain BERT layers only")
    return None


def unpadded_logits(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """The classifier's logits for a right-padded batch, computed on the real tokens only."""
    bert = model.bert
    keep = attention_mask.bool()
    lengths = keep.sum(dim=1)
    offsets = F.pad(lengths.cumsum(0), (1, 0))
    shortest, longest = torch.stack([lengths.min(), lengths.max()]).tolist()  # one host sync per batch, not per layer
    embedded = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
    hidden = embedded[keep]  # (tokens, hidden), example after example
    for layer in bert.encoder.layer:
        hidden = _layer(layer, hidden, offsets, shortest, longest)
    first = hidden[offsets[:-1]]  # each example's [CLS]
    pooled = bert.pooler(first.unsqueeze(1)) if bert.pooler is not None else first
    return model.classifier(model.dropout(pooled))


def _layer(layer, hidden: torch.Tensor, offsets: torch.Tensor, shortest: int, longest: int) -> torch.Tensor:
    """One BERT layer on packed tokens: the layer's own modules, attention per example."""
    attention = layer.attention.self
    heads, size = attention.num_attention_heads, attention.attention_head_size

    def per_example(packed: torch.Tensor) -> torch.Tensor:  # (tokens, hidden) -> (examples, heads, j, size)
        jagged = torch.nested.nested_tensor_from_jagged(packed, offsets, min_seqlen=shortest, max_seqlen=longest)
        return jagged.unflatten(-1, (heads, size)).transpose(1, 2)

    dropout = getattr(attention, "dropout_prob", attention.dropout.p) if layer.training else 0.0
    context = F.scaled_dot_product_attention(per_example(attention.query(hidden)), per_example(attention.key(hidden)),
                                             per_example(attention.value(hidden)), dropout_p=dropout)
    context = context.transpose(1, 2).flatten(-2).values()
    attended = layer.attention.output(context, hidden)
    return layer.output(layer.intermediate(attended), attended)
