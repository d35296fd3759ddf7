"""One battery over every method on the tiny model: trainable parameters, a full run,
the saved model exported and loaded back with the same predictions."""

from __future__ import annotations

import pytest
import torch

from cast_engine.export import export_run, load_exported
from cast_engine.export.delta import load_trained
from cast_engine.methods.registry import get_method, method_names
from cast_engine.models import load_classifier
from cast_engine.store import RunStore
from cast_engine.runs.runner import run

ALL_METHODS = ["full", "cast", "bitfit", "adapters", "lora", "lt_sft"]


def test_registry_holds_every_method_and_refuses_duplicates():
    from cast_engine.methods.registry import register

    assert method_names() == ALL_METHODS
    with pytest.raises(ValueError, match="already registered"):
        register(get_method("cast").config_cls, "x:y")


def test_every_config_field_has_help_text():
    import dataclasses

    from cast_engine.config import DataConfig, RunConfig, TrainConfig

    classes = [DataConfig, TrainConfig, RunConfig] + [get_method(m).config_cls for m in ALL_METHODS]
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.name in ("data", "train", "method"):
                continue
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"


def _counts(tiny_model_dir, method: str, options=None):
    labels = ["Negative", "Positive"]
    model, _ = load_classifier(str(tiny_model_dir), labels)
    total_before = sum(p.numel() for p in model.parameters())
    impl = get_method(method).create(get_method(method).config_cls(**(options or {})))
    model = impl.prepare(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    return model, impl, trainable, total_before


def test_trainable_parameters_per_method(tiny_model_dir):
    model, _, names, total = _counts(tiny_model_dir, "full")
    assert sum(p.numel() for n, p in model.named_parameters() if n in names) == total

    model, _, names, _ = _counts(tiny_model_dir, "bitfit")
    assert names and all(n.endswith(".bias") or n.startswith("classifier.") for n in names)
    assert "classifier.weight" in names

    for method in ("adapters", "lora"):
        model, _, names, total = _counts(tiny_model_dir, method)
        share = sum(p.numel() for n, p in model.named_parameters() if n in names) / total
        assert 0.005 <= share <= 0.02, f"{method} trains {share:.4f} of the parameters, not about 1 %"
        assert any("classifier" in n for n in names), f"{method} must train the head"

    _, impl, names, _ = _counts(tiny_model_dir, "lt_sft", {"k": "2%"})
    assert not any("LayerNorm" in n for n in names)
    assert impl.k == round(0.02 * impl.eligible_count)

    _, impl, names, total = _counts(tiny_model_dir, "cast", {"k": "1000"})
    assert impl.k == 1000 and impl.eligible_count == total
    _, impl, names, _ = _counts(tiny_model_dir, "cast", {"k": "10", "eligible": "no_embeddings"})
    assert not any("embeddings" in n for n in names)
    _, impl, _, _ = _counts(tiny_model_dir, "cast", {"k": "10", "eligible": "encoder_only"})
    assert not any(n.startswith("classifier") for n in impl.eligible)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_run_records_and_round_trips(method, tiny_config, store_path, tmp_path):
    options = {"k": "5%"} if method in ("cast", "lt_sft") else {}
    config = tiny_config(method, method_options=options, max_epochs=2)
    events = []
    result = run(config, store=store_path, sinks=[events.append])
    assert result.status == "completed", result.reason
    assert set(result.test) >= {"factual", "counterfactual", "combined", "pair", "confusion"}
    with RunStore(store_path) as store:
        stored = store.get_run(result.run_id)
        assert stored["status"] == "completed"
        assert stored["trainable_params"] == result.trainable_params > 0
        assert stored["config"]["method"]["name"] == method
        assert stored["data_hashes"] and stored["versions"]["torch"]
        assert len(store.epochs(result.run_id)) >= 2
        info = stored["results"]["method_info"]
        if method in ("cast", "lt_sft"):  # K is stored as given and as a count
            assert stored["config"]["method"]["k"] == "5%" and info["k"] == round(0.05 * info["eligible_params"])
        if method in ("cast", "lt_sft"):
            masks = store.masks(result.run_id)
            assert masks and all(m["kept"] == round(0.05 * m["eligible"]) for m in masks)
        # the saved model gives the trained model's predictions after export and reload
        trained, tokenizer, _ = load_trained(store.artifact_dir(result.run_id) / "delta.safetensors")
        hf_dir = export_run(store, result.run_id, "hf", tmp_path / "hf")
        delta_dir = export_run(store, result.run_id, "delta", tmp_path / "delta")
    texts = ["A wonderful, moving film.", "Dull and far too long.", "The plot never quite works."]
    inputs = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = trained(**inputs).logits
        if method != "adapters":  # Houlsby adapters cannot be merged into plain weights
            from transformers import AutoModelForSequenceClassification

            plain = AutoModelForSequenceClassification.from_pretrained(hf_dir).eval()
            torch.testing.assert_close(plain(**inputs).logits, expected)
        for folder in (hf_dir, delta_dir):
            model, _ = load_exported(folder)
            torch.testing.assert_close(model(**inputs).logits, expected, rtol=1e-4, atol=1e-5)
    # the reloaded model reproduces the accuracy measured at the end of training
    assert result.test["n_factual"] > 0
