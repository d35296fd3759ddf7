"""Sweep page: define a grid, launch it, watch the heat map and line chart fill, open a
cell's runs in History, export the figure and the table, stop and resume, bad input in place."""

from __future__ import annotations

import csv
import os
import statistics

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from cast_engine.store import RunStore  # noqa: E402


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, store_path, tiny_model_dir):
    monkeypatch.setenv("CAST_STUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    from cast_studio.main_window import MainWindow

    win = MainWindow(store_path)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.experiment_page.data_problem is None, timeout=60_000)  # the demo data has loaded
    page = win.experiment_page
    page.set_model(str(tiny_model_dir))
    page.set_checked_methods(["cast"])
    page.set_devices([{"id": "cpu", "name": "CPU", "memory_bytes": None}])
    page.device.setCurrentIndex(page.device.findData("cpu"))
    for name, value in {"max_epochs": "1", "batch_size": "16", "max_length": "48", "lr": "0.001"}.items():
        assert page.train_form.set_text(name, value)
    win.show_page("Sweep")
    yield win
    win.sweep_page.shutdown()
    win.queue.shutdown()


def _launch(qtbot, page, axes):
    page.axes.set_axes(axes)
    with _Done(qtbot, page):
        qtbot.mouseClick(page.launch_button, Qt.MouseButton.LeftButton)


class _Done:
    """Wait until the page's sweep job has ended."""

    def __init__(self, qtbot, page):
        self.qtbot, self.page = qtbot, page

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.qtbot.waitUntil(lambda: self.page.job is not None and not self.page.is_running()
                                 and self.page.launch_button.isEnabled(), timeout=300_000)


def test_a_sweep_fills_the_heat_map_and_the_line_chart(qtbot, window, store_path, monkeypatch):
    page = window.sweep_page
    _launch(qtbot, page, [("method.alpha", "0.01, 0.3"), ("method.k", "1000, 1%"), ("train.seed", "1, 2")])
    assert "completed" in page.status.text()
    assert page.progress.value() == page.progress.maximum() == 8
    matrix = page.plots.cell_matrix()
    assert matrix.shape == (2, 2) and np.isfinite(matrix).all()
    with RunStore(store_path) as store:
        (sweep,) = store.list_sweeps()
        runs = store.sweep_runs(sweep["id"])
    assert len(runs) == 8
    for r, k in enumerate(["1000", "1%"]):
        for c, alpha in enumerate([0.01, 0.3]):
            values = [100 * run["results"]["combined"] for run in runs
                      if run["config"]["method"]["alpha"] == alpha and run["config"]["method"]["k"] == k]
            assert matrix[r, c] == pytest.approx(statistics.fmean(values))
    assert len(page.plots.curves) == 2  # a line per K
    xs, ys = page.plots.curves["K = 10^3"].getData()
    assert list(xs) == [0.01, 0.3] and list(ys) == pytest.approx(list(matrix[0]))
    assert [t.toPlainText() for t in page.plots.cell_texts][0].endswith("(n=2)")
    # Redrawing (after every trial of a running sweep) reads the runs again, never re-expands the grid.
    from cast_engine.experiments import SweepSpec

    expanded = []
    trials = SweepSpec.trials
    monkeypatch.setattr(SweepSpec, "trials", lambda spec: expanded.append(spec) or trials(spec))
    page.refresh_sweeps()
    page.refresh_sweeps()
    assert expanded == [] and page.plots.cell_matrix() == pytest.approx(matrix, nan_ok=True)
    # History, hidden while the sweep ran, reads the store when it is shown: it lists the sweep's runs.
    assert window.history_page._stale
    window.show_page("History")
    assert set(window.history_page.visible_ids()) >= {run["id"] for run in runs}


def test_a_cell_opens_its_runs_in_history(qtbot, window, store_path):
    page = window.sweep_page
    _launch(qtbot, page, [("method.alpha", "0.01, 0.3"), ("train.seed", "1, 2")])
    page.plots.click_cell(0.3, None)
    assert window.stack.currentWidget() is window.history_page
    with RunStore(store_path) as store:
        expected = {run["id"] for run in store.list_runs() if run["config"]["method"]["alpha"] == 0.3}
    assert set(window.history_page.selected_ids()) == expected and len(expected) == 2
    from cast_studio.pages.history_page import COLUMN

    history = window.history_page
    sweep_cells = {history.proxy.index(row, COLUMN["sweep_id"]).data() for row in range(history.proxy.rowCount())}
    assert sweep_cells == {"1"}  # every trial shows its sweep


def test_export_figure_and_table(qtbot, window, tmp_path, store_path):
    page = window.sweep_page
    _launch(qtbot, page, [("method.alpha", "0.01, 0.3"), ("train.seed", "1, 2")])
    assert page.export_figure(tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in page.export_figure(tmp_path / "fig.svg").read_bytes()[:500]
    rows = list(csv.DictReader(page.export_table(tmp_path / "grid.csv").open()))
    with RunStore(store_path) as store:  # the expected values: the stored runs' test accuracies
        runs = store.list_runs()
    assert sorted(float(row["alpha"]) for row in rows) == [0.01, 0.3]
    for row in rows:
        values = [100 * r["results"]["combined"] for r in runs if r["config"]["method"]["alpha"] == float(row["alpha"])]
        assert len(values) == int(row["n"]) == 2
        assert float(row["mean"]) == pytest.approx(statistics.fmean(values), abs=1e-3)
    assert "| α |" in page.export_table(tmp_path / "grid.md").read_text()
    page._report(lambda: page.export_table(tmp_path / "grid.xlsx"))
    assert "saved as .md or .csv" in page.view_note.text()


def test_stop_then_launch_again_resumes(qtbot, window, store_path):
    """Stopped while the demo data was still loading on the Data page; relaunched once it has
    (its variant is then spelled out): the same sweep resumes."""
    page = window.sweep_page
    page.axes.set_axes([("method.alpha", "0.01, 0.1, 0.2, 0.3"), ("train.seed", "1")])
    page.job = None
    qtbot.mouseClick(page.launch_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.progress.value() >= 1, timeout=300_000)
    qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.is_running() and page.launch_button.isEnabled(), timeout=300_000)
    assert "stopped" in page.status.text()
    with RunStore(store_path) as store:
        done_before = len(store.list_runs(status="completed"))
    assert 1 <= done_before < 4
    with _Done(qtbot, page):
        qtbot.mouseClick(page.launch_button, Qt.MouseButton.LeftButton)
    with RunStore(store_path) as store:
        (sweep,) = store.list_sweeps()
        assert sweep["done"] == 4 and len(store.list_runs(status="completed")) == 4


def test_bad_input_is_refused_in_place(qtbot, window, store_path):
    page = window.sweep_page
    page.axes.set_axes([("method.alpha", "0.01, 2")])
    assert not page.launch()
    assert "Cannot launch" in page.status.text() and "alpha = 2.0 is out of range" in page.status.text()
    page.axes.set_axes([("train.lr", "fast")])
    assert "lr = 'fast'" in page.count_label.text()
    assert not page.launch()
    page.axes.set_axes([("method.alpha", "0.1")])
    page.workers.setValue(1)
    assert not window.experiment_page.train_form.set_text("max_epochs", "0")  # the base config is invalid
    assert not page.launch() and "train.max_epochs = 0 is out of range" in page.status.text()
    assert window.experiment_page.train_form.set_text("max_epochs", "1")
    page.axes.set_axes([("method.k", "")])
    assert not page.launch() and "method.k: give at least one value" in page.status.text()
    assert not page.launch_button.isEnabled() and "give at least one value" in page.launch_button.toolTip()
    with RunStore(store_path) as store:
        assert store.list_sweeps() == [] and store.list_runs() == []


def test_a_grid_too_big_is_refused_as_you_type(qtbot, window):
    page = window.sweep_page
    page.axes.set_axes([("train.lr", "0:1:1e-7")])
    assert "10,000,001 values" in page.count_label.text() and "at most 10,000" in page.count_label.text()
    page.axes.set_axes([("method.alpha", ", ".join(str(i / 1000) for i in range(1, 101))),
                        ("train.seed", ", ".join(str(i) for i in range(101)))])
    assert "10,100 trials" in page.count_label.text() and "at most 10,000" in page.count_label.text()
    page.axes.set_axes([("method.alpha", "0.1, 0.2")])
    assert page.count_label.text().startswith("2 trials of cast")  # then the sweep's name


def test_a_sweep_queues_behind_runs_and_the_monitor_follows_its_trials(qtbot, window, store_path, tiny_config):
    """One job path: a sweep launched while a run trains waits for it; each trial's events reach the Monitor."""
    from cast_engine.train.events import EpochEnded, RunEnded, RunStarted

    seen, trial_logs = [], []

    def record(event):
        if isinstance(event, (RunStarted, RunEnded)):
            seen.append(type(event).__name__)
        if isinstance(event, EpochEnded) and len(seen) > 2:  # a sweep trial trains: what does the Monitor say?
            trial_logs.append(window.monitor_page.log_text())

    window.queue.event.connect(record)
    window.start_runs([tiny_config("full", max_epochs=2)])
    page = window.sweep_page
    page.axes.set_axes([("method.alpha", "0.01, 0.3")])
    window.show_page("Sweep")
    with _Done(qtbot, page):
        assert page.launch()
        assert "queued" in page.status.text()
    assert "completed" in page.status.text()
    assert seen == ["RunStarted", "RunEnded"] * 3  # the run, then each trial: never two at once
    assert trial_logs and "cast" in trial_logs[-1] and "alpha=0.3" in trial_logs[-1]
    with RunStore(store_path) as store:
        assert len(store.list_runs(status="completed")) == 3


def test_the_grid_follows_experiment_changes_made_while_the_page_was_hidden(window, tiny_model_dir):
    page, sweep = window.experiment_page, window.sweep_page
    page.set_model(str(tiny_model_dir))
    page.set_checked_methods(["bitfit"])
    page.set_devices([{"id": "cpu", "name": "CPU", "memory_bytes": None}])
    page.device.setCurrentIndex(page.device.findData("cpu"))
    window.show_page("Sweep")
    sweep.axes.set_axes([("train.seed", "1, 2")])
    assert sweep.count_label.text().startswith("2 trials of bitfit")
    window.show_page("Experiment")
    page.set_checked_methods(["bitfit", "lora"])
    window.show_page("Sweep")
    assert sweep.count_label.text().startswith("4 trials of bitfit, lora")
    window.show_page("Experiment")
    assert not page.train_form.set_text("max_length", "70000")  # refused: the grid cannot launch
    window.show_page("Sweep")
    assert not sweep.launch_button.isEnabled()


def test_redrawing_an_unchanged_grid_keeps_the_plots_laid_out(qtbot):
    """A running sweep redraws after every trial; titles, labels, ticks and ranges that did not change
    are not set again (each new one lays the plot out and redraws its axes)."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from cast_engine.experiments.outputs import GridPoint, SweepGrid
    from cast_studio.pages.sweep_plots import SweepPlots

    plots = SweepPlots()
    qtbot.addWidget(plots)
    plots.resize(900, 400)
    plots.show()
    plots.show_grid(None)  # the page opens on an empty chart (0 to 1)
    points = [GridPoint(a, k, [70.0 + i], [i + 1]) for i, (a, k) in enumerate([(0.01, "1e3"), (0.3, "1e3"), (0.01, "1e5")])]
    grid = SweepGrid("method.alpha", "method.k", "combined", points)
    plots.show_grid(grid)
    for _ in range(3):  # the two plots paint in turns of the event loop
        QApplication.processEvents()
    axes = [item for view in (plots.heat, plots.lines) for item in view.scene().items() if isinstance(item, pg.AxisItem)
            and item.isVisible()]
    assert axes and all(axis.picture is not None for axis in axes)  # drawn
    plots.show_grid(grid)
    assert all(axis.picture is not None for axis in axes)  # nothing to draw again
    texts = [text.toPlainText() for text in plots.cell_texts]
    grid.points.append(GridPoint(0.3, "1e5", [90.0], [4]))  # the last trial ends: its cell fills
    plots.show_grid(grid)
    assert [text.toPlainText() for text in plots.cell_texts] == texts[:3] + ["90.0\n(n=1)"]
    assert tuple(plots.colorbar.levels()) == (70.0, 90.0)
    QApplication.processEvents()
    (x_low, x_high), _ = plots.lines.getPlotItem().viewRange()
    assert x_low < 0.01 and 0.3 < x_high < 0.5  # the line chart fits the α values, not the empty chart's 0 to 1
