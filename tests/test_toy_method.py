"""A method defined here, in one place, and registered at test time reaches every part of the product
with no other file edited: `cast run --help`, the studio's method forms, checkpoints and resume, the battery."""

from __future__ import annotations

import os
from dataclasses import dataclass

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from method_battery import check_run_and_round_trip, check_trainable  # noqa: E402

from cast_engine.methods import registry  # noqa: E402
from cast_engine.methods.base import Method, head_names, set_trainable  # noqa: E402
from cast_engine.settings import MethodConfig, param  # noqa: E402
from cast_engine.train.events import CancelToken, EpochEnded  # noqa: E402


# ------------------------------------------------------------- the toy method: its config and its implementation
@dataclass
class HeadOnlyConfig(MethodConfig):
    """Only the classification head trains (and the bias terms, if asked)."""

    name = "toy_head"
    title = "Toy: the head only"
    recommended_lr = 1e-3
    lr_grid = (1e-3,)
    lr_source = "Only the head trains: a linear probe's rate (this test's choice)."
    with_biases: bool = param(False, "Train the bias terms as well as the head.")


class HeadOnly(Method):
    def prepare(self, model):
        biases = {n for n, _ in model.named_parameters() if n.endswith(".bias")} if self.config.with_biases else set()
        set_trainable(model, head_names(model) | biases)
        return model


@pytest.fixture
def toy_method(monkeypatch):
    """The toy method registered for one test (the registry is restored afterwards)."""
    registry.method_names()  # the built-in methods first, as at any start
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register(HeadOnlyConfig, f"{__name__}:HeadOnly")
    return "toy_head"


def test_cast_run_help_offers_the_toy_method_and_its_options(toy_method, capsys):
    from cast_engine.cli import main

    with pytest.raises(SystemExit) as done:
        main(["run", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "toy_head" in text and "--with-biases" in text and "Train the bias terms as well as the head." in text


def test_the_studio_builds_a_form_for_the_toy_method(toy_method, qtbot, tiny_model_dir):
    from cast_studio.pages.experiment_page import ExperimentPage

    page = ExperimentPage()
    qtbot.addWidget(page)
    titles = [page.method_list.item(i).text() for i in range(page.method_list.count())]
    assert "Toy: the head only" in titles
    assert "with_biases" in page.method_forms["toy_head"].editors
    page.set_model(str(tiny_model_dir))
    page.set_checked_methods(["toy_head"])
    page.method_forms["toy_head"].set_text("with_biases", "true")
    assert [(c.method.name, c.method.with_biases) for c in page.configs()] == [("toy_head", True)]


def test_a_stopped_toy_run_resumes_to_the_uninterrupted_result(toy_method, tiny_config, store_path):
    from cast_engine.runs.runner import resume, run
    from cast_engine.store import RunStore

    reference = run(tiny_config(toy_method, max_epochs=3), store=store_path)
    token = CancelToken()

    def stop_after_first_epoch(event):
        if isinstance(event, EpochEnded) and event.epoch == 1:
            token.cancel("test stop after epoch 1")

    stopped = run(tiny_config(toy_method, max_epochs=3), store=store_path, cancel=token, sinks=[stop_after_first_epoch])
    assert stopped.status == "cancelled"
    resumed = resume(stopped.run_id, store=store_path)
    assert resumed.status == "completed" and resumed.test == reference.test
    with RunStore(store_path) as store:
        scores = [[e["val_combined"] for e in store.epochs(r.run_id)] for r in (reference, stopped)]
    assert scores[0] == scores[1] and len(scores[0]) == 3


def test_the_battery_checks_the_toy_method(toy_method, tiny_model_dir, tiny_config, store_path, tmp_path):
    check_trainable(tiny_model_dir, toy_method, {}, {"only": r"^classifier\.", "includes": [r"^classifier\.weight$"]})
    check_trainable(tiny_model_dir, toy_method, {"with_biases": True}, {"only": r"\.bias$|^classifier\.", "includes": [r"\.bias$"]})
    check_run_and_round_trip(toy_method, tiny_config(toy_method, max_epochs=2), store_path, tmp_path)
