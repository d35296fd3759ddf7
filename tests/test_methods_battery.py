"""One battery over every method on the tiny model: trainable parameters, a full run,
the saved model exported and loaded back with the same predictions."""

from __future__ import annotations

import pytest
from method_battery import check_run_and_round_trip, check_trainable

from cast_engine.methods.registry import get_method, method_names

ALL_METHODS = ["full", "cast", "bitfit", "adapters", "lora", "lt_sft"]

# What each method trains on the tiny model: (method, options, expectations; see check_trainable).
TRAINABLE = [
    ("full", {}, {"share": (1.0, 1.0)}),
    ("bitfit", {}, {"only": r"\.bias$|^classifier\.", "includes": [r"^classifier\.weight$"]}),
    ("adapters", {}, {"share": (0.005, 0.02), "includes": ["classifier"]}),
    ("lora", {}, {"share": (0.005, 0.02), "includes": ["classifier"]}),
    ("lt_sft", {"k": "2%"}, {"excludes": "LayerNorm", "k": ("share", 0.02)}),
    ("cast", {"k": "1000"}, {"k": 1000, "eligible_is_total": True}),
    ("cast", {"k": "10", "eligible": "no_embeddings"}, {"excludes": "embeddings"}),
    ("cast", {"k": "10", "eligible": "encoder_only"}, {"eligible_excludes": "^classifier"}),
]


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


def test_every_method_has_a_row_of_trainable_expectations():
    assert {method for method, _, _ in TRAINABLE} == set(method_names())


@pytest.mark.parametrize("method, options, expect", TRAINABLE, ids=[f"{m}-{'-'.join(o.values()) or 'defaults'}" for m, o, _ in TRAINABLE])
def test_trainable_parameters_per_method(tiny_model_dir, method, options, expect):
    check_trainable(tiny_model_dir, method, options, expect)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_run_records_and_round_trips(method, tiny_config, store_path, tmp_path):
    options = {"k": "5%"} if get_method(method).config_cls.makes_masks else {}
    check_run_and_round_trip(method, tiny_config(method, method_options=options, max_epochs=2), store_path, tmp_path)
