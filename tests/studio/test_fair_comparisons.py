"""Fair comparisons in the studio: each method's learning rate on the Experiment page, and
validation accuracy against training examples processed in Compare."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from cast_engine.config import LR_METHOD_DEFAULT, LR_SET_BY_USER  # noqa: E402
from cast_engine.methods.registry import get_method  # noqa: E402
from cast_studio.pages.compare import CompareDialog  # noqa: E402
from cast_studio.pages.experiment_page import ExperimentPage  # noqa: E402


def _by_method(configs):
    return {c.method.name: c for c in configs}


def test_each_method_shows_its_rate_and_runs_at_it_unless_overridden(qtbot):
    page = ExperimentPage()
    qtbot.addWidget(page)
    for name, widget in page.method_lrs.items():
        cls = get_method(name).config_cls
        assert float(widget.edit.text()) == cls.recommended_lr
        assert cls.lr_source in widget.edit.toolTip()  # where the number comes from
    page.set_checked_methods(["full", "lora", "bitfit"])
    configs = _by_method(page.configs())
    assert {name: c.resolved_lr() for name, c in configs.items()} == {
        name: (get_method(name).config_cls.recommended_lr, LR_METHOD_DEFAULT) for name in configs}

    page.method_lrs["lora"].edit.setText("0.002")  # one method overridden, the others keep theirs
    configs = _by_method(page.configs())
    assert configs["lora"].resolved_lr() == (0.002, LR_SET_BY_USER)
    assert configs["bitfit"].resolved_lr() == (get_method("bitfit").config_cls.recommended_lr, LR_METHOD_DEFAULT)

    page.method_lrs["bitfit"].edit.setText("fast")
    assert "learning rate of bitfit: 'fast' is not a number" in page.summary.text()
    page.request_runs()
    assert "Cannot run" in page.summary.text()
    page.method_lrs["bitfit"].reset.click()
    assert float(page.method_lrs["bitfit"].edit.text()) == get_method("bitfit").config_cls.recommended_lr

    page.train_form.set_text("lr", "0.0003")  # the training form's rate applies to every method
    assert not page.method_lrs["lora"].edit.isEnabled()
    assert {c.train.lr for c in page.configs()} == {0.0003}
    page.train_form.set_text("lr", "0")
    assert page.method_lrs["lora"].edit.isEnabled() and _by_method(page.configs())["lora"].train.lr == 0.002


def test_method_rates_survive_a_restart(qtbot):
    page = ExperimentPage()
    qtbot.addWidget(page)
    page.method_lrs["adapters"].edit.setText("0.001")
    again = ExperimentPage()
    qtbot.addWidget(again)
    again.restore(page.settings())
    assert again.method_lrs["adapters"].edit.text() == "0.001"


def _run(run_id, method, examples_per_epoch):
    results = {"combined": 0.6, "train_examples": 3 * examples_per_epoch, "train_time_s": 12.0,
               "lr_source": LR_METHOD_DEFAULT}
    return {"id": run_id, "name": method, "status": "completed", "results": results,
            "config": {"method": {"name": method}, "train": {"lr": 5e-5}}}


def _epochs(examples_per_epoch):
    return [{"epoch": e, "stage": "train", "val_combined": 0.4 + 0.1 * e, "train_loss": 1.0 / e,
             "train_examples": e * examples_per_epoch, "train_time_s": 4.0 * e} for e in (1, 2, 3)]


def test_compare_plots_validation_against_examples_processed(qtbot):
    runs = [_run(1, "full", 100), _run(2, "cast", 200)]  # CAST's two passes: twice the examples per epoch
    dialog = CompareDialog(runs, {1: _epochs(100), 2: _epochs(200)})
    qtbot.addWidget(dialog)
    assert list(dialog.accuracy_curves[2].getData()[0]) == [1, 2, 3]
    dialog.x_combo.setCurrentIndex(dialog.x_combo.findData("train_examples"))
    assert list(dialog.accuracy_curves[1].getData()[0]) == [100, 200, 300]
    assert list(dialog.accuracy_curves[2].getData()[0]) == [200, 400, 600]
    assert list(dialog.accuracy_curves[2].getData()[1]) == pytest.approx([50, 60, 70])
    assert list(dialog.loss_curves[2].getData()[0]) == [200, 400, 600]
    assert "examples processed" in dialog.accuracy_plot.getAxis("bottom").labelText
    results = {dialog.results_view.verticalHeaderItem(r).text(): dialog.results_view.item(r, 1).text()
               for r in range(dialog.results_view.rowCount())}
    assert results["Examples processed"] == "600" and results["Learning rate"] == "5e-05 (method default)"
    dialog.set_x_axis("epoch")
    assert list(dialog.accuracy_curves[1].getData()[0]) == [1, 2, 3]


def test_sweep_page_tuned_protocol_runs_each_methods_grid_and_names_the_pick(qtbot, window, tiny_model_dir):
    from PySide6.QtCore import Qt

    page = window.experiment_page
    page.set_model(str(tiny_model_dir))
    page.set_checked_methods(["bitfit"])
    page.set_devices([{"id": "cpu", "name": "CPU", "memory_bytes": None}])
    page.device.setCurrentIndex(page.device.findData("cpu"))
    for name, value in {"max_epochs": "1", "batch_size": "16", "max_length": "32"}.items():
        assert page.train_form.set_text(name, value)
    sweep = window.sweep_page
    sweep.axes.set_axes([("method", "bitfit, lora"), ("train.seed", "1")])
    sweep.protocol_box.setCurrentIndex(sweep.protocol_box.findData("tuned"))
    trials = sweep.spec().trials()
    assert sorted((t.config.method.name, t.config.train.lr) for t in trials) == sorted(
        [("bitfit", lr) for lr in get_method("bitfit").config_cls.lr_grid]
        + [("lora", lr) for lr in get_method("lora").config_cls.lr_grid])
    assert sweep.count_label.text().startswith("6 trials of bitfit, lora")  # then the sweep's name
    sweep.axes.set_axes([("train.lr", "1e-4, 1e-3")])
    assert "remove the train.lr axis" in sweep.count_label.text()

    sweep.axes.set_axes([("train.seed", "1")])  # bitfit alone: its three rates
    qtbot.mouseClick(sweep.launch_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: sweep.job is not None and not sweep.is_running() and sweep.launch_button.isEnabled(),
                    timeout=300_000)
    sweep.refresh_sweeps()
    note = sweep.view_note.text()
    assert "picked on mean validation accuracy over seeds (never test)" in note
    assert "method bitfit: lr " in note and "validation" in note and "test" in note


def test_history_shows_the_examples_each_run_processed_and_sorts_by_them(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from cast_engine.store import RunStore
    from cast_studio.pages.history_page import HistoryPage
    from cast_studio.pages.history_table import COLUMN
    from cast_studio.pages.run_format import fmt_duration

    db = tmp_path / "runs.sqlite"
    with RunStore(db) as store:
        for method, examples, seconds in (("full", 9_996, 61.0), ("cast", 19_992, 130.5), ("lora", None, None)):
            run_id = store.create_run({"method": {"name": method}}, method=method, task="nli", variant="RH1",
                                      regime="cad", model="m", seed=1)
            results = {"combined": 0.5} | ({"train_examples": examples, "train_time_s": seconds} if examples else {})
            store.finish_run(run_id, "completed", results=results)
    page = HistoryPage(db)
    qtbot.addWidget(page)
    model = page.model
    examples, seconds, method = COLUMN["train_examples"], COLUMN["train_time_s"], COLUMN["method"]
    assert model.headerData(examples, Qt.Orientation.Horizontal) == "Examples"
    shown = {model.index(r, method).data(): (model.index(r, examples).data(), model.index(r, seconds).data())
             for r in range(model.rowCount())}
    assert shown["cast"][0] == "19,992" and shown["full"][0] == "9,996" and shown["lora"] == ("", "")
    assert shown["cast"][1] == fmt_duration(130.5)
    model.sort(examples, Qt.SortOrder.DescendingOrder)
    assert [model.index(r, method).data() for r in range(2)] == ["cast", "full"]
