"""Fair comparisons: every method trains at its own recommended learning rate unless the user
sets one, the run records which it used and why, and a method without one is refused."""

from __future__ import annotations

import dataclasses

import pytest

from cast_engine.config import LR_METHOD_DEFAULT, LR_SET_BY_USER, MethodConfig, RunConfig, TrainConfig, config_fingerprint
from cast_engine.methods.registry import get_method, method_names, register
from cast_engine.store import RunStore
from cast_engine.runs.runner import run


def test_every_method_has_a_recommended_rate_a_grid_and_a_source():
    for name in method_names():
        cls = get_method(name).config_cls
        assert 0 < cls.recommended_lr <= 1e-2, name
        assert len(cls.lr_grid) >= 3 and all(0 < lr <= 1e-2 for lr in cls.lr_grid), name
        assert "20" in cls.lr_source and "recommended" in cls.lr_source, name  # a year and the choice, in words
    # the parameter-efficient methods' own papers train at rates 10x those of full fine-tuning
    full = get_method("full").config_cls.recommended_lr
    for name in ("bitfit", "adapters", "lora"):
        assert get_method(name).config_cls.recommended_lr >= 5 * full, name


@pytest.mark.parametrize("facts, problem", [
    ({}, "no recommended learning rate"),
    ({"recommended_lr": 0.0, "lr_grid": (1e-4,), "lr_source": "x"}, "no recommended learning rate"),
    ({"recommended_lr": 1e-4, "lr_grid": (), "lr_source": "x"}, "lr_grid"),
    ({"recommended_lr": 1e-4, "lr_grid": (1e-4, -1.0), "lr_source": "x"}, "lr_grid"),
    ({"recommended_lr": 1e-4, "lr_grid": (1e-4,), "lr_source": " "}, "lr_source is empty"),
])
def test_a_method_without_a_recommended_learning_rate_is_refused_at_registration(facts, problem):
    config_cls = dataclasses.make_dataclass("NoRateConfig", [], bases=(MethodConfig,))
    config_cls.name, config_cls.title = "no_rate", "No rate"
    for key, value in facts.items():
        setattr(config_cls, key, value)
    with pytest.raises(ValueError, match=problem):
        register(config_cls, "cast_engine.methods.base:Method")
    assert "no_rate" not in method_names()


def test_unset_learning_rate_means_the_methods_own():
    lora = get_method("lora").config_cls
    config = RunConfig(method=lora())
    assert config.train.lr == 0
    assert config.resolved_lr() == (lora.recommended_lr, LR_METHOD_DEFAULT)
    config.train.lr = 3e-3
    assert config.resolved_lr() == (3e-3, LR_SET_BY_USER)


def test_an_unset_rate_and_the_same_rate_given_explicitly_are_the_same_trial():
    bitfit = get_method("bitfit").config_cls
    unset = RunConfig(method=bitfit()).to_dict()
    explicit = RunConfig(method=bitfit(), train=TrainConfig(lr=bitfit.recommended_lr)).to_dict()
    other = RunConfig(method=bitfit(), train=TrainConfig(lr=1e-5)).to_dict()
    assert config_fingerprint(unset) == config_fingerprint(explicit) != config_fingerprint(other)


def test_a_run_records_the_rate_it_used_and_why(tiny_config, store_path):
    default = run(tiny_config("bitfit", lr=0.0, max_epochs=2, patience=5), store=store_path, save_model=False)
    chosen = run(tiny_config("bitfit", lr=2e-3, max_epochs=1), store=store_path, save_model=False)
    with RunStore(store_path) as store:
        first, second = store.get_run(default.run_id), store.get_run(chosen.run_id)
        first_lr = store.epochs(default.run_id)[0]
    assert first["config"]["train"]["lr"] == get_method("bitfit").config_cls.recommended_lr
    assert first["results"]["lr_source"] == LR_METHOD_DEFAULT
    assert second["config"]["train"]["lr"] == 2e-3 and second["results"]["lr_source"] == LR_SET_BY_USER
    # it trained at that rate: after one of two epochs, linear decay has halved it
    assert first_lr["lr"] == pytest.approx(get_method("bitfit").config_cls.recommended_lr / 2, rel=0.05)
