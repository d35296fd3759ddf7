"""A run's predictions on a test set, its own test split or a named evaluation, as the
Pairs view and the flip ledger read them (``run_pair_data``); ``run_results`` gives the
accuracies the tables show."""

from __future__ import annotations

from ..errors import DataError, StoreError
from .pairs import PairData, Predictions


def run_results(store, run: dict, evaluation: str | None = None) -> dict:
    """The run's test accuracies, or those of its evaluation ``evaluation`` (empty when it has none)."""
    if evaluation is None:
        return run.get("results") or {}
    found = store.find_evaluation(run["id"], name=evaluation)
    return found["results"] if found else {}


def run_pair_data(store, run_id: int, evaluation: str | None = None) -> PairData:
    """The pairs a run was tested on with its predictions.

    With ``evaluation``: the evaluation's stored examples, predictions and
    probabilities. Without: the run's own test split, read again from its
    data config, with the predictions stored at the end of training (no
    probabilities: ``cast evaluate RUN`` stores them as the evaluation 'test').
    """
    from .evaluate import unpack_examples

    run = store.get_run(run_id)
    label = f"run {run_id}"
    if evaluation is not None:
        found = store.get_evaluation(run_id, evaluation)
        stored = store.evaluation_predictions(found["id"])
        split = unpack_examples(store.evaluation_examples(found["id"]))
        predictions = Predictions(stored["factual"]["predicted"], stored["counterfactual"]["predicted"],
                                  stored["factual"]["probabilities"], stored["counterfactual"]["probabilities"], label)
        return PairData(split, list(found["labels"]), predictions, found["source"])
    stored = store.predictions(run_id)
    if not stored:
        raise StoreError(f"run {run_id} ({run['status']}) has no stored test predictions: only completed runs keep them")
    from ..config import RunConfig
    from .dataset import load_data

    dataset = load_data(RunConfig.from_dict(run["config"]).data)
    split = dataset.test
    for side, examples in (("factual", split.factual), ("counterfactual", split.counterfactual)):
        gold = stored.get(side, {"gold": []})["gold"]
        if gold != [e.label for e in examples]:
            raise DataError(f"the test data of run {run_id} changed since it ran ({len(gold)} stored {side} labels, "
                            f"{len(examples)} read now, or different labels): evaluate it on the data as it is now "
                            "with `cast evaluate`", dataset.files[0] if dataset.files else None)
    predictions = Predictions(stored["factual"]["predicted"], stored.get("counterfactual", {"predicted": []})["predicted"],
                              label=label)
    return PairData(split, list(dataset.labels), predictions, f"{dataset.source}, split test")
