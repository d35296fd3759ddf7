"""Compute on the axis: every run records the training examples it processed (forward and
backward passes) and its training time, per epoch and in total."""

from __future__ import annotations

import pytest

from cast_engine.store import RunStore
from cast_engine.train import trainer as trainer_module
from cast_engine.runs.runner import run


@pytest.fixture
def batches_held(monkeypatch):
    """Every training batch the trainer draws, as its example count (evaluation batches are not drawn here)."""
    held: list[int] = []
    for name in ("length_grouped_batches", "shuffled_batches"):
        original = getattr(trainer_module, name)

        def counting(*args, _original=original, **kwargs):
            batches = _original(*args, **kwargs)
            held.extend(len(batch) for batch in batches)
            return batches

        monkeypatch.setattr(trainer_module, name, counting)
    return held


@pytest.mark.parametrize("method, options", [("full", {}), ("cast", {"k": "5%"}), ("lt_sft", {"k": "5%"})])
def test_recorded_examples_equal_what_the_batches_held(tiny_config, store_path, batches_held, method, options):
    result = run(tiny_config(method, method_options=options, max_epochs=2), store=store_path, save_model=False)
    assert result.status == "completed"
    with RunStore(store_path) as store:
        stored = store.get_run(result.run_id)
        epochs = store.epochs(result.run_id)
    assert stored["results"]["train_examples"] == sum(batches_held) > 0
    assert epochs[-1]["train_examples"] == sum(batches_held)
    counts = [e["train_examples"] for e in epochs]
    assert counts == sorted(counts) and counts[0] > 0  # cumulative
    assert 0 < stored["results"]["train_time_s"] <= stored["wall_time_s"]
    assert epochs[-1]["train_time_s"] == pytest.approx(stored["results"]["train_time_s"])


def test_cast_counts_both_passes(tiny_config, store_path):
    originals_only = tiny_config("full", max_epochs=1)
    originals_only.regime = "nocad"
    full = run(originals_only, store=store_path, save_model=False)
    cast = run(tiny_config("cast", method_options={"k": "5%"}, max_epochs=1), store=store_path, save_model=False)
    with RunStore(store_path) as store:
        originals = store.get_run(full.run_id)["results"]["train_examples"]  # one pass over the originals
        both = store.get_run(cast.run_id)["results"]["train_examples"]
    assert both == 2 * originals  # demo data: one revision per original, so the counterfactual pass is as long


def test_resumed_run_keeps_counting_from_its_checkpoint(tiny_config, store_path):
    from cast_engine.train.events import CancelToken, EpochEnded
    from cast_engine.runs.runner import resume

    unbroken = run(tiny_config("full", max_epochs=3, seed=4), store=store_path, save_model=False)
    cancel = CancelToken()
    stopped = run(tiny_config("full", max_epochs=3, seed=4), store=store_path, save_model=False, cancel=cancel,
                  sinks=[lambda e: cancel.cancel() if isinstance(e, EpochEnded) and e.epoch == 2 else None])
    assert stopped.status == "cancelled"
    resumed = resume(stopped.run_id, store=store_path, save_model=False)
    with RunStore(store_path) as store:
        expected = store.get_run(unbroken.run_id)["results"]["train_examples"]
        got = store.get_run(resumed.run_id)["results"]
    assert got["train_examples"] == expected
    assert got["lr_source"] == "user"  # tiny_config sets lr
