"""The training loop as a user sees it: reproducible, cancellable, honest about failure."""

from __future__ import annotations

import torch

from cast_engine.store import RunStore
from cast_engine.train.events import (CancelToken, EpochEnded, LossReported, MaskComputed, PhaseChanged, Progress,
                                      RunEnded, RunStarted)
from cast_engine.runs.runner import run


def test_same_seed_same_metrics_on_cpu(tiny_config, store_path):
    first = run(tiny_config("cast", method_options={"k": "2%"}, seed=3), store=store_path)
    second = run(tiny_config("cast", method_options={"k": "2%"}, seed=3), store=store_path)
    assert first.status == second.status == "completed"
    assert first.test == second.test
    assert [h["val_combined"] for h in first.history] == [h["val_combined"] for h in second.history]
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]


def test_events_cover_progress_phases_losses_epochs_and_masks(tiny_config, store_path):
    events = []
    result = run(tiny_config("cast", method_options={"k": "1%"}, log_every=2, max_epochs=2), store=store_path, sinks=[events.append])
    kinds = {type(e) for e in events}
    assert {RunStarted, PhaseChanged, Progress, LossReported, EpochEnded, MaskComputed, RunEnded} <= kinds
    phases = {e.phase for e in events if isinstance(e, PhaseChanged)}
    assert {"factual pass", "counterfactual pass", "merge", "evaluation", "test evaluation"} <= phases
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].step == progress[-1].planned_steps  # the plan matched what ran
    assert progress[-1].eta_s == 0
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.epoch for e in epochs] == [1, 2]
    assert {"val_factual", "val_counterfactual", "val_combined", "val_pair", "train_loss", "cf_loss"} <= set(epochs[0].metrics)
    masks = [e for e in events if isinstance(e, MaskComputed)]
    assert len(masks) == 2 and masks[1].jaccard is not None
    assert sum(v[1] for v in masks[0].per_layer.values()) == masks[0].eligible
    assert {"layer 0", "layer 1", "embeddings", "head"} <= set(masks[0].per_layer)
    with RunStore(store_path) as store:
        assert [m["kept"] for m in store.masks(result.run_id)] == [masks[0].kept] * 2


def test_stop_ends_within_one_step_and_saves_cancelled(tiny_config, store_path):
    cancel = CancelToken()
    steps = []

    def stop_after_three(event):
        if isinstance(event, Progress):
            steps.append(event.step)
            if event.step == 3:
                cancel.cancel()

    result = run(tiny_config("full", max_epochs=5), store=store_path, sinks=[stop_after_three], cancel=cancel)
    assert result.status == "cancelled"
    assert steps[-1] == 3  # not one more step after the request
    with RunStore(store_path) as store:
        stored = store.get_run(result.run_id)
        assert stored["status"] == "cancelled" and "stopped by the user" in stored["reason"]


def test_cancel_after_an_epoch_keeps_its_metrics(tiny_config, store_path):
    cancel = CancelToken()

    def stop_after_epoch(event):
        if isinstance(event, EpochEnded):
            cancel.cancel()

    result = run(tiny_config("cast", method_options={"k": "1%"}, max_epochs=4), store=store_path,
                 sinks=[stop_after_epoch], cancel=cancel)
    assert result.status == "cancelled"
    with RunStore(store_path) as store:
        assert len(store.epochs(result.run_id)) == 1
        assert len(store.masks(result.run_id)) == 1


def test_nan_loss_fails_the_run_naming_epoch_and_step(tiny_config, store_path, monkeypatch):
    real = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", lambda *a, **k: real(*a, **k) * float("nan"))
    result = run(tiny_config("full", log_every=1), store=store_path)
    assert result.status == "failed"
    assert "nan" in result.reason and "epoch 1, step 1" in result.reason
    with RunStore(store_path) as store:
        assert store.get_run(result.run_id)["status"] == "failed"


def test_early_stopping_and_restoring_the_best_epoch(tiny_config, store_path):
    # a zero learning rate can never improve on epoch 1: patience 2 stops after epoch 3
    result = run(tiny_config("full", lr=1e-12, max_epochs=10, patience=2), store=store_path)
    assert result.status == "completed"
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert result.best_epoch == 1


def test_nocad_regime_trains_on_originals_only(tiny_config, store_path):
    events = []
    config = tiny_config("full", max_epochs=1)
    config.regime = "nocad"
    run(config, store=store_path, sinks=[events.append])
    steps = max(e.step for e in events if isinstance(e, Progress))
    assert steps == -(-92 // 16)  # 92 demo originals, batch 16
