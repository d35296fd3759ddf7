"""Experiment page and config forms: built from the engine's dataclasses, bad values refused in place."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from cast_engine.config import DataConfig  # noqa: E402
from cast_engine.errors import ConfigError  # noqa: E402
from cast_engine.methods.cast import CastConfig  # noqa: E402
from cast_studio.forms import ConfigForm  # noqa: E402
from cast_studio.pages.experiment_page import ExperimentPage, parse_seeds  # noqa: E402


def test_form_shows_help_as_tooltips_and_refuses_bad_values(qtbot):
    form = ConfigForm(CastConfig)
    qtbot.addWidget(form)
    assert "counterfactual update" in form.editors["alpha"].toolTip()
    assert form.set_text("alpha", "0.07") and form.values()["alpha"] == 0.07
    assert not form.set_text("alpha", "1.5")
    assert "cast.alpha = 1.5 is out of range" in form.error_label.text()
    assert form.values()["alpha"] == 0.07  # the last valid value is kept
    assert not form.is_valid()
    assert not form.set_text("k", "lots")
    assert form.set_text("alpha", "0.05") and form.set_text("k", "1e5")
    assert form.is_valid() and form.config() == CastConfig(alpha=0.05, k="1e5")


def test_k_is_shown_as_count_and_share_for_the_chosen_model(qtbot):
    page = ExperimentPage()
    qtbot.addWidget(page)
    assert page.k_hint() == "K = 9.1% = 2,066,973 of 22,713,986 eligible parameters"
    page.set_data(DataConfig(task="nli", variant="RH1"), num_labels=3)
    page.method_forms["cast"].set_text("k", "10000")
    assert page.k_hint() == "K = 10,000 = 0.04402 % of 22,714,371 eligible parameters"
    page.method_forms["cast"].set_text("eligible", "no_embeddings")
    assert "of 10,795,779 eligible" in page.k_hint()


def test_methods_times_regimes_times_seeds(qtbot, tiny_model_dir):
    page = ExperimentPage()
    qtbot.addWidget(page)
    page.set_model(str(tiny_model_dir))
    page.set_checked_methods(["cast", "lora"])
    page.regime_nocad.setChecked(True)
    page.seeds.setText("1-3")
    configs = page.configs()
    assert len(configs) == 3 + 2 * 3  # CAST ignores the regime
    assert {(c.method.name, c.regime) for c in configs} == {("cast", "cad"), ("lora", "nocad"), ("lora", "cad")}
    assert sorted({c.train.seed for c in configs}) == [1, 2, 3]
    assert all(c.model == str(tiny_model_dir) for c in configs)
    assert "9 runs" in page.summary.text()


def test_bad_choices_are_explained_not_raised(qtbot):
    page = ExperimentPage()
    qtbot.addWidget(page)
    runs = []
    page.run_requested.connect(runs.append)
    page.seeds.setText("one")
    page.request_runs()
    assert not runs and "seeds: 'one' is not a whole number" in page.summary.text()
    page.seeds.setText("1")
    page.train_form.set_text("lr", "-3")
    page.request_runs()
    assert not runs and "train.lr = -3.0 is out of range" in page.summary.text()
    page.train_form.set_text("lr", "0.0001")
    page.set_checked_methods([])
    page.request_runs()
    assert not runs and "tick at least one method" in page.summary.text()


def test_settings_round_trip(qtbot):
    page = ExperimentPage()
    qtbot.addWidget(page)
    page.set_checked_methods(["full", "bitfit"])
    page.method_forms["cast"].set_text("alpha", "0.11")
    page.train_form.set_text("max_epochs", "7")
    page.seeds.setText("4, 5")
    saved = page.settings()
    other = ExperimentPage()
    qtbot.addWidget(other)
    other.restore(saved)
    assert other.settings() == saved


def test_parse_seeds():
    assert parse_seeds("1, 2,3") == [1, 2, 3]
    assert parse_seeds("2-4") == [2, 3, 4]
    for bad in ("", "x", "5-2", "-1"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_the_k_hint_counts_what_each_masking_method_counts(qtbot, tiny_model_dir):
    """LT-SFT counts K over the encoder without LayerNorm and without the head, not by CAST's rule."""
    from method_battery import prepared

    page = ExperimentPage()
    qtbot.addWidget(page)
    page.set_model(str(tiny_model_dir))
    counts = {}
    for method in ("cast", "lt_sft"):
        assert page.method_forms[method].set_text("k", "10")
        _, impl, _, _ = prepared(tiny_model_dir, method, {"k": "10"})
        counts[method] = impl.eligible_count
        assert page.k_hint(method).endswith(f"of {impl.eligible_count:,} eligible parameters")
    assert counts["lt_sft"] < counts["cast"]
