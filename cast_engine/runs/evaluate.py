"""Evaluate a stored run's trained model on other paired data and store the result.

The model is the run's saved delta (its restored best weights) applied to its
base model, as `cast export` loads it. The data is read with the training
readers (see ``spec.load_evaluation_data``); gold labels are matched to the
model's labels by name. The result is a named evaluation of the run (store
table ``evaluations``): evaluating the same run on the same data again returns
the stored one.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..data.types import CadSplit, Example
from ..errors import DataError, RunCancelled
from ..evaluate.metrics import cad_metrics
from .evaluation_data import EvaluateConfig, EvaluationData, load_evaluation_data

Progress = Callable[[int, int], None]  # (examples done, examples in all)


@dataclass
class EvaluationOutcome:
    """A stored evaluation (as RunStore.list_evaluations gives it) and whether it was already there."""

    evaluation: dict
    reused: bool


def evaluate_run(store, run_id: int, cfg: EvaluateConfig, *, progress: Progress | None = None,
                 cancel=None) -> EvaluationOutcome:
    """Run ``run_id``'s model on the data ``cfg`` names and store it as a named evaluation.

    Raises CastError for bad data or options (before anything is stored) and
    RunCancelled when ``cancel`` is set; ``progress(done, total)`` follows the
    examples.
    """
    from ..export.hf import run_artifact

    run = store.get_run(run_id)
    artifact = run_artifact(store, run_id)  # refuses runs without a saved model, naming why
    data = load_evaluation_data(cfg, run)
    found = store.find_evaluation(run_id, data_sha256=data.data_sha256)
    if found is not None:
        return EvaluationOutcome(found, True)
    if store.find_evaluation(run_id, name=data.default_name) is not None:
        from ..errors import StoreError

        raise StoreError(f"run {run_id} already has an evaluation named {data.default_name!r} on other data; "
                         "choose another name (--name)")
    split, labels = _model_labels(data, artifact)
    predicted, probabilities = _predict(artifact, run, split, cfg, progress, cancel)
    n_fac = len(split.factual)
    fac_gold = [e.label for e in split.factual]
    cf_gold = [e.label for e in split.counterfactual]
    fac_pred, cf_pred = predicted[:n_fac], predicted[n_fac:]
    results = cad_metrics(fac_pred, fac_gold, cf_pred, cf_gold, split.pairs, len(labels))
    evaluation_id = store.add_evaluation(
        run_id, name=data.default_name, source=data.source, spec=data.spec, data_sha256=data.data_sha256,
        data_files=data.file_sha256, labels=labels, results=results, examples=pack_examples(split),
        predictions={"factual": (fac_pred, fac_gold, probabilities[:n_fac]),
                     "counterfactual": (cf_pred, cf_gold, probabilities[n_fac:])})
    stored = next(e for e in store.list_evaluations(run_id) if e["id"] == evaluation_id)
    return EvaluationOutcome(stored, False)


def _model_labels(data: EvaluationData, artifact) -> tuple[CadSplit, list[str]]:
    """The split with gold labels renumbered to the model's label order (matched by name)."""
    from ..export.delta import read_delta_metadata

    model_labels = list(read_delta_metadata(artifact)["labels"])
    index = {name.lower(): i for i, name in enumerate(model_labels)}
    mapping = {}
    for i, name in enumerate(data.labels):
        if name.lower() not in index:
            raise DataError(f"label {name!r} is not one the model knows ({', '.join(model_labels)})", data.files[0])
        mapping[i] = index[name.lower()]

    def renumber(examples: list[Example]) -> list[Example]:
        return [Example(e.text_a, e.text_b, mapping[e.label]) for e in examples]

    split = data.split
    return CadSplit(split.name, renumber(split.factual), renumber(split.counterfactual), list(split.pairs)), model_labels


def _predict(artifact, run: dict, split: CadSplit, cfg: EvaluateConfig, progress: Progress | None,
             cancel) -> tuple[list[int], np.ndarray]:
    """Predictions and class probabilities of the factual then counterfactual examples."""
    from ..config import RunConfig
    from ..export.delta import load_trained
    from ..train.batches import tokenize_examples
    from ..train.device import pick_device

    train_cfg = RunConfig.from_dict(run["config"]).train
    device = pick_device(cfg.device)
    model, tokenizer, _ = load_trained(artifact)
    model.to(device)
    examples = list(split.factual) + list(split.counterfactual)
    tokenized = tokenize_examples(examples, tokenizer, train_cfg.max_length)
    return predict_probabilities(model, tokenized, device, cfg.batch_size or train_cfg.eval_batch_size,
                                 tokenizer.pad_token_id or 0, progress, cancel)


def predict_probabilities(model, tokenized, device, batch_size: int, pad_id: int, progress: Progress | None = None,
                          cancel=None) -> tuple[list[int], np.ndarray]:
    """argmax predictions and softmax probabilities (float32, n × labels) in the examples' order."""
    import torch

    from ..train.batches import iterate, sequential_batches

    n = len(tokenized)
    probabilities = np.zeros((n, model.config.num_labels), dtype=np.float32)
    batches = sequential_batches(tokenized.lengths, batch_size)
    done = 0
    model.eval()
    with torch.no_grad():
        for indices, (inputs, _) in zip(batches, iterate(tokenized, batches, pad_id, device)):
            if cancel is not None and cancel.cancelled:
                raise RunCancelled(cancel.reason)
            probs = torch.softmax(model(**inputs).logits.float(), dim=-1).cpu().numpy()
            probabilities[indices] = probs
            done += len(indices)
            if progress is not None:
                progress(done, n)
    return probabilities.argmax(axis=1).tolist(), probabilities


def pack_examples(split: CadSplit) -> bytes:
    """The split's examples and pairs as compressed JSON lines (stored with the evaluation).

    One line per example, not one document: a reader decodes many small lines, so a studio
    thread reading a large set never holds the interpreter for the whole decode at once.
    """
    lines = [json.dumps({"name": split.name, "factual": len(split.factual), "pairs": [list(p) for p in split.pairs]})]
    lines += [json.dumps([e.text_a, e.text_b, e.label]) for e in list(split.factual) + list(split.counterfactual)]
    return zlib.compress("\n".join(lines).encode("utf-8"), 6)


def unpack_examples(blob: bytes) -> CadSplit:
    """The split pack_examples stored."""
    head, *rows = zlib.decompress(blob).decode("utf-8").split("\n")
    meta = json.loads(head)
    examples = [Example(*json.loads(row)) for row in rows]
    n = meta["factual"]
    return CadSplit(meta["name"], examples[:n], examples[n:], [tuple(p) for p in meta["pairs"]])


def evaluation_summary(outcome: EvaluationOutcome) -> str:
    """Lines for a terminal: the evaluation's name, data and accuracies."""
    e = outcome.evaluation
    r = e["results"]
    head = f"evaluation {e['name']!r} of run {e['run_id']}" + (" (stored earlier: same run, same data)" if outcome.reused else "")
    scores = ", ".join(f"{k} {100 * r[k]:.1f}" for k in ("factual", "counterfactual", "combined", "pair")
                       if isinstance(r.get(k), (int, float)))
    return "\n".join([head, f"data: {e['source']} (sha256 {e['data_sha256'][:12]}…)",
                      f"{r['n_factual']} originals, {r['n_counterfactual']} revisions, {r['n_pairs']} pairs",
                      f"accuracy: {scores}"])
