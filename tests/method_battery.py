"""The checks every method gets (PEFT-style): trainable parameters against a row of expectations,
a full run recorded in the store, the saved model exported and loaded back with the same predictions.

Used by test_methods_battery.py over the registered methods and by test_toy_method.py for a
method registered at test time.
"""

from __future__ import annotations

import re

import torch

from cast_engine.export import export_run, load_exported
from cast_engine.export.delta import load_trained
from cast_engine.methods.registry import get_method
from cast_engine.models import load_classifier
from cast_engine.runs.runner import run
from cast_engine.store import RunStore


def prepared(tiny_model_dir, method: str, options: dict | None = None):
    """(model, implementation, names of trainable parameters, parameter count before prepare)."""
    model, _ = load_classifier(str(tiny_model_dir), ["Negative", "Positive"])
    total_before = sum(p.numel() for p in model.parameters())
    impl = get_method(method).create(get_method(method).config_cls(**(options or {})))
    model = impl.prepare(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    return model, impl, trainable, total_before


def check_trainable(tiny_model_dir, method: str, options: dict | None, expect: dict) -> None:
    """Check what ``prepare`` left trainable against ``expect``:

    share (low, high): trainable share of the prepared model's parameters;
    only: every trainable name matches this pattern; includes: a name matching each pattern trains;
    excludes: no trainable name matches; eligible_excludes: no name K counts from matches;
    k: K as a count, or ("share", s) for round(s × eligible); eligible_is_total: K counts from every parameter.
    """
    model, impl, names, total = prepared(tiny_model_dir, method, options)
    assert names, f"{method} trains nothing"
    if "share" in expect:
        low, high = expect["share"]
        share = sum(p.numel() for n, p in model.named_parameters() if n in names) / total
        assert low <= share <= high, f"{method} trains {share:.4f} of the parameters, not {low}–{high}"
    if "only" in expect:
        assert all(re.search(expect["only"], n) for n in names), f"{method} trains {sorted(names)}"
    for pattern in expect.get("includes", ()):
        assert any(re.search(pattern, n) for n in names), f"{method} must train {pattern}"
    if "excludes" in expect:
        assert not any(re.search(expect["excludes"], n) for n in names), f"{method} must not train {expect['excludes']}"
    if "eligible_excludes" in expect:
        assert not any(re.search(expect["eligible_excludes"], n) for n in impl.eligible)
    if "k" in expect:
        k = expect["k"]
        assert impl.k == (round(k[1] * impl.eligible_count) if isinstance(k, tuple) else k)
    if expect.get("eligible_is_total"):
        assert impl.eligible_count == total


def check_run_and_round_trip(method: str, config, store_path, tmp_path) -> None:
    """A full run is recorded; its saved model, exported and reloaded, gives the trained model's predictions."""
    masks_expected = config.method.makes_masks
    result = run(config, store=store_path)
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
        if masks_expected and "k" in stored["config"]["method"]:  # K is stored as given and as a count
            assert stored["config"]["method"]["k"] == "5%" and info["k"] == round(0.05 * info["eligible_params"])
        if masks_expected:
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
        if not (hf_dir / "adapter").exists():  # Houlsby adapters cannot be merged into plain weights
            from transformers import AutoModelForSequenceClassification

            plain = AutoModelForSequenceClassification.from_pretrained(hf_dir).eval()
            torch.testing.assert_close(plain(**inputs).logits, expected)
        for folder in (hf_dir, delta_dir):
            model, _ = load_exported(folder)
            torch.testing.assert_close(model(**inputs).logits, expected, rtol=1e-4, atol=1e-5)
    # the reloaded model reproduces the accuracy measured at the end of training
    assert result.test["n_factual"] > 0
