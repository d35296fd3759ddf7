"""What a run leaves behind is the model it trained: the best epoch's weights when
``restore_best`` is on, a delta that stores only the entries CAST changed, and
exports that give the in-memory model's logits and its test accuracies, and the
mask of the weights it kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cast_engine.data import load_cad
from cast_engine.export import export_run, load_exported
from cast_engine.export.delta import load_trained, read_delta
from cast_engine.models import load_classifier
from cast_engine.store import RunStore
from cast_engine.runs import runner as runner_module
from cast_engine.runs.runner import resume, run
from cast_engine.sparse.mask_file import run_mask
from cast_engine.train.events import CancelToken, EpochEnded, Message
from cast_engine.train.trainer import Trainer

from accuracy_check import cad_accuracies

TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "The plot never quite works."]


@pytest.fixture
def scripted_validation(monkeypatch):
    """Validation scores follow ``curve`` (epoch 1, 2, ...); the weights at each validation are kept."""
    seen: list[dict[str, torch.Tensor]] = []
    curve: list[float] = []
    real = Trainer.evaluate

    def evaluate(self, split, keep_predictions=False):
        metrics = real(self, split, keep_predictions)
        if split is self.data.dev:
            seen.append({n: p.detach().clone() for n, p in self.model.named_parameters()})
            metrics["combined"] = curve[len(seen) - 1]
        return metrics

    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    return curve, seen


def _saved_weights(store_path, run_id):
    with RunStore(store_path) as store:
        model, _, _ = load_trained(store.artifact_dir(run_id) / "delta.safetensors")
    return dict(model.named_parameters())


def _distance(a, b) -> float:
    return max(float((a[n].detach() - b[n]).abs().max()) for n in b)


@pytest.mark.parametrize("restore_best", [True, False])
def test_the_saved_model_is_the_best_epochs(restore_best, tiny_config, store_path, scripted_validation):
    curve, seen = scripted_validation
    curve += [0.50, 0.80, 0.60, 0.70]  # best at epoch 2 of 4
    result = run(tiny_config("full", max_epochs=4, patience=10, restore_best=restore_best), store=store_path)
    assert result.status == "completed" and result.best_epoch == 2 and len(seen) == 4
    saved = _saved_weights(store_path, result.run_id)
    wanted, other = (seen[1], seen[3]) if restore_best else (seen[3], seen[1])
    assert _distance(saved, wanted) == 0.0
    assert _distance(saved, other) > 1e-4  # the epochs really differ, so the check can fail


def test_two_stage_cast_keeps_each_stages_best(tiny_config, store_path, scripted_validation):
    curve, seen = scripted_validation
    # factual branch (2 epochs), counterfactual branch (2), refine (2): the refine stage is best at its first epoch
    curve += [0.5, 0.6, 0.5, 0.6, 0.9, 0.7]
    options = {"k": "5%", "schedule": "two_stage", "refine_epochs": 2}
    result = run(tiny_config("cast", method_options=options, max_epochs=2, patience=10), store=store_path)
    assert result.status == "completed" and len(seen) == 6 and result.best_epoch == 5
    saved = _saved_weights(store_path, result.run_id)
    assert _distance(saved, seen[4]) == 0.0 and _distance(saved, seen[5]) > 0


@pytest.fixture
def masks_at_validation(scripted_validation, monkeypatch):
    """The mask the trainer carries at each validation (epoch 1, 2, ...), on top of the scripted scores."""
    masks: list[dict[str, np.ndarray]] = []
    scripted = Trainer.evaluate

    def evaluate(self, split, keep_predictions=False):
        if split is self.data.dev:
            masks.append({n: m.cpu().numpy().copy() for n, m in self.carry["mask"].items()})
        return scripted(self, split, keep_predictions)

    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    return masks


def _saved_mask(store_path, run_id) -> dict[str, np.ndarray]:
    with RunStore(store_path) as store:
        return run_mask(store, run_id)


def _same_mask(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[n], b[n]) for n in a)


# embeddings frozen: with them eligible, the tiny model's top 5 % is the same every epoch
MASKED = {"k": "5%", "eligible": "no_embeddings"}


def test_the_saved_cast_mask_is_the_best_epochs(tiny_config, store_path, scripted_validation, masks_at_validation):
    curve, _ = scripted_validation
    curve += [0.50, 0.80, 0.60, 0.70]  # best at epoch 2 of 4
    result = run(tiny_config("cast", method_options=MASKED, max_epochs=4, patience=10), store=store_path)
    assert result.status == "completed" and result.best_epoch == 2 and len(masks_at_validation) == 4
    saved = _saved_mask(store_path, result.run_id)
    assert _same_mask(saved, masks_at_validation[1])
    assert not _same_mask(saved, masks_at_validation[3])  # the epochs' masks really differ, so the check can fail


def _stop_after(epoch: int, token: CancelToken):
    def sink(event):
        if isinstance(event, EpochEnded) and event.epoch == epoch:
            token.cancel(f"test stop after epoch {epoch}")
    return sink


@pytest.mark.parametrize("stop", [2, 3])  # stopped in the best epoch, and after it
def test_a_resumed_cast_run_saves_the_best_epochs_mask(stop, tiny_config, store_path, scripted_validation,
                                                       masks_at_validation):
    curve, _ = scripted_validation
    curve += [0.50, 0.80, 0.60, 0.70]  # best at epoch 2 of 4
    config = tiny_config("cast", method_options=MASKED, max_epochs=4, patience=10)
    with RunStore(store_path) as store:
        token = CancelToken()
        stopped = run(config, store=store, cancel=token, sinks=[_stop_after(stop, token)])
        assert stopped.status == "cancelled" and len(masks_at_validation) == stop
        resumed = resume(stopped.run_id, store=store)
        assert resumed.status == "completed" and resumed.best_epoch == 2 and len(masks_at_validation) == 4
    saved = _saved_mask(store_path, resumed.run_id)
    assert _same_mask(saved, masks_at_validation[1])
    assert not _same_mask(saved, masks_at_validation[3])


def test_a_checkpoint_without_the_best_mask_resumes_with_the_last_mask(tiny_config, store_path, scripted_validation,
                                                                       masks_at_validation):
    """Checkpoints written before the best epoch's mask was kept still resume; the run keeps its last mask and says so."""
    curve, _ = scripted_validation
    curve += [0.50, 0.80, 0.60, 0.70]
    config = tiny_config("cast", method_options=MASKED, max_epochs=4, patience=10)
    with RunStore(store_path) as store:
        token = CancelToken()
        stopped = run(config, store=store, cancel=token, sinks=[_stop_after(3, token)])
        path = store.artifact_dir(stopped.run_id) / "checkpoint.pt"
        payload = torch.load(path, weights_only=True)
        assert payload.pop("best_mask") is not None
        torch.save(payload, path)
        messages = []
        resumed = resume(stopped.run_id, store=store,
                         sinks=[lambda e: messages.append(e.text) if isinstance(e, Message) else None])
        assert resumed.status == "completed" and resumed.best_epoch == 2
    assert _same_mask(_saved_mask(store_path, resumed.run_id), masks_at_validation[3])
    assert any("does not hold the mask of epoch 2" in text for text in messages)


def _count_changed(tensors: dict, base_state: dict, skip: set) -> int:
    """Entries a delta file changes outside ``skip``: its index lists, and the entries of its dense tensors that differ."""
    changed = 0
    for key, value in tensors.items():
        name, kind = key.rsplit("::", 1)
        if name in skip:
            continue
        if kind == "indices":
            changed += value.numel()
        elif kind == "dense":
            changed += int((value != base_state[name]).sum())
    return changed


def test_the_cast_delta_stores_only_the_masked_entries(tiny_config, tiny_model_dir, store_path, tmp_path):
    # encoder_only: the new classification head trains densely outside the mask (it is not in the base model)
    options = {"k": "1%", "eligible": "encoder_only"}
    result = run(tiny_config("cast", method_options=options, max_epochs=1), store=store_path)
    assert result.status == "completed"
    with RunStore(store_path) as store:
        (mask,) = store.masks(result.run_id)
        out = export_run(store, result.run_id, "delta", tmp_path / "delta")
    k = mask["kept"]
    assert k == round(0.01 * mask["eligible"])
    tensors, meta = read_delta(out / "delta.safetensors")
    base, _ = load_classifier(str(tiny_model_dir), meta["labels"])
    head = set(base.cast_new_tensors)
    assert head == {"classifier.weight", "classifier.bias"}
    # one CAST iteration changes exactly the K masked entries (θ_ori outside the mask, bit for bit)
    assert _count_changed(tensors, base.state_dict(), head) == k
    assert {key for key in tensors if key.startswith("classifier.")} == {"classifier.weight::dense", "classifier.bias::dense"}
    dense_bytes = sum(p.numel() * p.element_size() for p in base.parameters())
    size = (out / "delta.safetensors").stat().st_size
    assert size < 0.05 * dense_bytes, f"delta of {size:,} bytes for {dense_bytes:,} dense bytes"


@pytest.mark.parametrize("method", ["cast", "lora"])
def test_exports_give_the_trained_models_logits_and_accuracy(method, tiny_config, store_path, tmp_path, monkeypatch):
    in_memory = {}
    real_save = runner_module.save_artifact

    def save_artifact(store, run_id, impl, model, config, labels, *base):
        # the model as training left it, before anything is written
        _, tokenizer = load_classifier(config.model, labels)
        model.eval()
        with torch.no_grad():
            in_memory["logits"] = model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits.clone()
        model.train()
        return real_save(store, run_id, impl, model, config, labels, *base)

    monkeypatch.setattr(runner_module, "save_artifact", save_artifact)
    options = {"k": "5%"} if method == "cast" else {}
    config = tiny_config(method, method_options=options, max_epochs=2)
    result = run(config, store=store_path)
    assert result.status == "completed", result.reason
    with RunStore(store_path) as store:
        folders = [export_run(store, result.run_id, fmt, tmp_path / fmt) for fmt in ("hf", "delta")]
    test_split = load_cad("demo", "sentiment").test
    for folder in folders:
        model, tokenizer = load_exported(folder)
        with torch.no_grad():
            logits = model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits
        torch.testing.assert_close(logits, in_memory["logits"], rtol=1e-4, atol=1e-5)
        measured = cad_accuracies(model, tokenizer, test_split, config.train.max_length)
        for key, value in measured.items():
            assert result.test[key] == pytest.approx(value), (folder.name, key)
