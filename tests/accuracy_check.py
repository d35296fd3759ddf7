"""An independent accuracy check: a model's CAD accuracies computed example by example
with the tokenizer called directly (no engine batching, padding or metrics code)."""

from __future__ import annotations

import torch


@torch.no_grad()
def predictions(model, tokenizer, examples, max_length: int) -> list[int]:
    """The predicted label of each example, one forward pass per example."""
    model.eval()
    out = []
    for ex in examples:
        texts = (ex.text_a,) if ex.text_b is None else (ex.text_a, ex.text_b)
        inputs = tokenizer(*texts, truncation=True, max_length=max_length, return_tensors="pt")
        out.append(int(model(**inputs).logits[0].argmax()))
    return out


def cad_accuracies(model, tokenizer, split, max_length: int) -> dict:
    """Factual, counterfactual, combined and pair accuracy of ``model`` on a CadSplit."""
    fac = predictions(model, tokenizer, split.factual, max_length)
    cf = predictions(model, tokenizer, split.counterfactual, max_length)
    fac_ok = [p == ex.label for p, ex in zip(fac, split.factual)]
    cf_ok = [p == ex.label for p, ex in zip(cf, split.counterfactual)]
    both = [fac_ok[f] and cf_ok[c] for f, c in split.pairs]
    return {
        "factual": sum(fac_ok) / len(fac_ok),
        "counterfactual": sum(cf_ok) / len(cf_ok) if cf_ok else None,
        "combined": (sum(fac_ok) + sum(cf_ok)) / (len(fac_ok) + len(cf_ok)),
        "pair": sum(both) / len(both) if both else None,
    }
