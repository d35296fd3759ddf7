"""What a researcher sees is what trains: a sweep names its methods, fields are checked as they are
typed (the run's own checks and words), the Monitor keeps and explains a run, names tell configs apart."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from cast_engine.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from cast_engine.methods.registry import get_method  # noqa: E402
from cast_engine.train.events import (  # noqa: E402
    CancelToken,
    EpochEnded,
    LossReported,
    MaskComputed,
    PhaseChanged,
    Progress,
    RunEnded,
    RunStarted,
)


def _type(qtbot, editor, text: str) -> None:
    """Select what the field holds and type ``text`` over it, key by key, as a user would."""
    editor.selectAll()
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    qtbot.keyClicks(editor, text)


@pytest.fixture
def experiment(qtbot, tiny_model_dir):
    from cast_studio.pages.experiment_page import ExperimentPage

    page = ExperimentPage()
    qtbot.addWidget(page)
    page.set_model(str(tiny_model_dir))
    return page


# ---------------------------------------------------------------- point 3: validation you can trust
def test_a_bad_value_is_refused_as_it_is_typed_and_run_says_why(qtbot, experiment):
    page = experiment
    assert page.run_button.isEnabled()
    assert page.summary.text() == "1 run on demo (sentiment, CAD): cast ×1"
    _type(qtbot, page.method_forms["cast"].editors["alpha"], "2")
    form = page.method_forms["cast"]
    # plain text: the "<=" is shown, not taken for markup; the field is named as the form names it
    assert form.error_label.text() == "α (alpha): cast.alpha = 2.0 is out of range: it must be <= 1.0"
    assert not page.run_button.isEnabled()
    assert "cast.alpha = 2.0 is out of range: it must be <= 1.0" in page.run_button.toolTip()
    assert "it must be &lt;= 1.0" in page.summary.text()  # escaped in the rich-text summary, so it shows
    _type(qtbot, page.train_form.editors["lr"], "-1")
    assert "it must be" in page.summary.text()  # the summary follows every edit
    assert "(and 1 more)" not in form.error_label.text()  # one line per form: Run stays in view
    _type(qtbot, page.method_forms["cast"].editors["alpha"], "0.1")
    _type(qtbot, page.train_form.editors["lr"], "0.001")
    assert page.run_button.isEnabled() and page.summary.text() == "1 run on demo (sentiment, CAD): cast ×1"
    _type(qtbot, page.subset_form.editors["train_limit"], "200")  # the limits are part of what trains
    assert page.summary.text() == "1 run on demo (sentiment, CAD, first 200 train originals): cast ×1"


def test_k_is_checked_against_the_model_as_typed_in_the_runs_own_words(qtbot, experiment, tiny_model_dir):
    from cast_engine.models.size import eligible_parameter_count
    from cast_engine.sparse.kspec import parse_k

    page = experiment
    eligible = eligible_parameter_count(str(tiny_model_dir), 2, page.method_forms["cast"].config().counts_toward_k)
    with pytest.raises(Exception) as run_words:  # what the run itself says at its start
        parse_k("1e9").resolve(eligible)
    _type(qtbot, page.method_forms["cast"].editors["k"], "1e9")
    assert page.method_forms["cast"].error_label.text() == f"K: {run_words.value}"
    assert not page.run_button.isEnabled() and "larger than the" in page.run_button.toolTip()
    _type(qtbot, page.method_forms["cast"].editors["k"], "1000")
    assert page.run_button.isEnabled()


def test_the_toolbar_run_and_the_sweep_launch_are_disabled_while_invalid(qtbot, window, tiny_model_dir):
    page = window.experiment_page
    page.set_model(str(tiny_model_dir))
    qtbot.waitUntil(lambda: page.data_problem is None, timeout=60_000)
    assert window.run_action.isEnabled()
    _type(qtbot, page.train_form.editors["max_epochs"], "0")
    assert not window.run_action.isEnabled() and "max_epochs = 0" in window.run_action.toolTip()
    _type(qtbot, page.train_form.editors["max_epochs"], "1")
    assert window.run_action.isEnabled()
    sweep = window.sweep_page
    sweep.axes.set_axes([("method.k", "1000, 1e9")])
    assert not sweep.launch_button.isEnabled()
    assert "larger than the" in sweep.launch_button.toolTip() and "method.k=1e9" in sweep.count_label.text()
    sweep.axes.set_axes([("train.seed", "")])
    assert sweep.launch_button.toolTip() == ("Cannot launch: train.seed: give at least one value, "
                                             "e.g. 1, 2, 3 or a range start:stop:step")


def test_model_export_is_offered_only_for_a_run_that_saved_a_model(qtbot, window, store_path):
    from cast_engine.store import RunStore

    with RunStore(store_path) as store:
        run_id = store.create_run({"method": {"name": "cast"}}, method="cast", task="nli", variant="RH1",
                                  regime="cad", model="minilm", seed=1)
        store.finish_run(run_id, "cancelled", reason="stopped by the user")
    history = window.history_page
    history.refresh()
    history.select_runs([run_id])
    action = next(iter(history.model_actions.values()))
    assert not action.isEnabled()
    assert action.toolTip() == f"Run {run_id} is cancelled: only completed runs save a model."


# ---------------------------------------------------------------- point 2: a sweep names its methods
def test_a_sweep_of_two_ticked_methods_names_them_and_previews_its_trials(qtbot, window, tiny_model_dir):
    page = window.experiment_page
    page.set_model(str(tiny_model_dir))
    page.set_checked_methods(["cast", "full"])
    sweep = window.sweep_page
    sweep.axes.set_axes([("method.alpha", "0.01, 0.05"), ("train.seed", "1, 2")])
    assert sweep.count_label.text() == "6 trials of full, cast — sweep 'full+cast sentiment-CAD: alpha 0.01, 0.05 × seed 1, 2'"
    rows = sweep.preview_rows()
    assert [(r["method"], r["alpha"], r["seed"]) for r in rows] == [
        ("full", "", "1"), ("full", "", "2"),
        ("cast", "0.01", "1"), ("cast", "0.01", "2"), ("cast", "0.05", "1"), ("cast", "0.05", "2")]
    assert sweep.notes_label.isVisibleTo(sweep)
    assert sweep.notes_label.text() == "alpha does not apply to full: its 2 values make one trial, not 2"
    sweep.axes.set_axes([("method.alpha", "2"), ("train.seed", "1")])
    assert "alpha = 2.0 is out of range" in sweep.count_label.text() and not sweep.launch_button.isEnabled()


def test_each_ticked_method_keeps_its_own_settings_in_a_sweep(qtbot, window, tiny_model_dir):
    page = window.experiment_page
    page.set_model(str(tiny_model_dir))
    page.set_checked_methods(["cast", "lt_sft"])
    assert page.method_forms["cast"].set_text("k", "5%") and page.method_forms["lt_sft"].set_text("k", "2%")
    sweep = window.sweep_page
    sweep.axes.set_axes([("train.seed", "1, 2")])
    _spec, trials = sweep._spec_and_trials()
    assert {(t.config.method.name, t.config.method.k) for t in trials} == {("cast", "5%"), ("lt_sft", "2%")}
    assert [(r["method"], r["k"], r["seed"]) for r in sweep.preview_rows()] == [
        ("cast", "5%", "1"), ("cast", "5%", "2"), ("lt_sft", "2%", "1"), ("lt_sft", "2%", "2")]


# ---------------------------------------------------------------- point 5: names that tell configs apart
def test_default_run_names_tell_configs_apart():
    def config(method: str, **values) -> RunConfig:
        return RunConfig(data=DataConfig(task="nli", variant="RH1"), train=TrainConfig(seed=1),
                         method=get_method(method).config_cls(**values))

    assert config("cast", alpha=0.05, k="1e5").default_name() == "cast-a0.05-k1e5-nli-RH1-seed1"
    assert config("cast", alpha=0.15, k="1e5").default_name() == "cast-a0.15-k1e5-nli-RH1-seed1"
    assert config("full").default_name() == "full-nli-RH1-cad-seed1"
    limited = config("lt_sft", k="1%")
    limited.data.train_limit, limited.train.lr = 200, 2e-5
    assert limited.default_name() == "lt_sft-k1%-nli-RH1-cad-lr2e-05-n200-seed1"


def test_a_sweep_is_named_from_its_grid(qtbot, window, tiny_model_dir):
    page = window.experiment_page
    page.set_model(str(tiny_model_dir))
    page.set_checked_methods(["cast"])
    sweep = window.sweep_page
    sweep.axes.set_axes([("method.alpha", "0.01, 0.05"), ("method.k", "1e3, 1e4"), ("train.seed", "1:4:1")])
    assert sweep.count_label.text().endswith(
        "sweep 'cast sentiment-CAD: alpha 0.01, 0.05 × k 1e3, 1e4 × seed 1…4 (4)'")


# ---------------------------------------------------------------- point 4: a Monitor to work from
def _config(name: str = "", alpha: float = 0.05) -> dict:
    return RunConfig(data=DataConfig(data="/data/cad", task="nli", variant="RH1", train_limit=200),
                     method=get_method("cast").config_cls(alpha=alpha, k="1%"), name=name).to_dict()


def _run_events(run_id: int, status: str = "completed") -> list:
    per_layer = {"embeddings": [10, 1000], "layer 0": [5, 500], "head": [1, 10]}
    events = [RunStarted(run_id, _config(), 22_714_371, 22_714_371, "cpu",
                         {"k": 227_144, "k_share": 0.01, "eligible_params": 22_714_371}),
              PhaseChanged("factual pass", 1, "")]
    for step in range(1, 6):
        events += [LossReported(step, 1, "factual pass", 0.7 - step / 20, 1e-4),
                   Progress(step, 10, 1, "factual pass", step * 0.5, (10 - step) * 0.5)]
    events += [MaskComputed(1, 16, 1510, per_layer, None),
               EpochEnded(1, "cast", {"val_combined": 0.8, "val_factual": 0.82}, True, 1)]
    results = {"factual": 0.88, "counterfactual": 0.84, "combined": 0.86, "pair": 0.74}
    return events + [RunEnded(run_id, status, "stopped by the user" if status == "cancelled" else None,
                              results if status == "completed" else None)]


@pytest.fixture
def monitor(qtbot):
    from cast_studio.pages.monitor_page import MonitorPage

    page = MonitorPage()
    qtbot.addWidget(page)
    return page


def _feed(page, events) -> None:
    for event in events:
        page.on_event(event)
    page.flush()


def test_the_monitor_keeps_the_last_run_until_the_next_starts_and_shows_its_results(monitor):
    _feed(monitor, _run_events(3))
    assert monitor.results_label.isVisibleTo(monitor)
    assert monitor.results_label.text() == "<b>Test accuracy: factual 88.0, counterfactual 84.0, combined 86.0, pair 74.0 %</b>"
    assert monitor.eta_label.text() == "ETA –" and monitor.phase_label.text() == ""
    assert "mask keeps K = 227,144 of 22,714,371 eligible (1 %)" in monitor.details_label.text()
    assert "parameters train in each pass" in monitor.details_label.text()
    assert monitor.data_label.text() == "data: /data/cad (nli, RH1, first 200 train originals)"
    losses = list(monitor.loss_curve.getData()[0])
    # the next queued run is announced: its name and data show, the last run's curves stay
    monitor.next_run(RunConfig.from_dict(_config(alpha=0.15)))
    assert monitor.title_label.text() == "Run · cast-a0.15-k1%-nli-RH1-n200-seed1 · CAST"
    assert monitor.status_label.text() == "Preparing" and monitor.stop_button.isEnabled()
    assert not monitor.results_label.isVisibleTo(monitor)
    assert list(monitor.loss_curve.getData()[0]) == losses
    _feed(monitor, _run_events(4, status="cancelled")[:1])  # it starts: now the curves are its own
    assert monitor.title_label.text().startswith("Run #4") and monitor.status_label.text() == "Running"
    assert monitor.loss_curve.getData()[0] is None or len(monitor.loss_curve.getData()[0]) == 0


def test_a_stopped_run_keeps_no_eta_or_phase(monitor):
    events = _run_events(5, status="cancelled")
    _feed(monitor, events[:-3])
    assert monitor.eta_label.text() != "ETA –"
    _feed(monitor, events[-1:])
    assert monitor.status_label.text() == "Cancelled"
    assert monitor.eta_label.text() == "ETA –" and monitor.phase_label.text() == ""
    assert monitor.progress_bar.format() == "cancelled at step 5 of 10"


def test_a_one_point_plot_is_ranged_around_its_point(monitor):
    _feed(monitor, [RunStarted(1, _config(), 10, 10, "cpu"), LossReported(10, 1, "factual pass", 0.69, 1e-4),
                    EpochEnded(1, "cast", {"val_combined": 0.5}, True, 1)])
    (x_low, x_high), (y_low, y_high) = monitor.loss_plot.getPlotItem().getViewBox().viewRange()
    assert x_low == 0 and x_high >= 10 and y_low == 0 and 0.69 < y_high < 1
    _, (v_low, v_high) = monitor.val_plot.getPlotItem().getViewBox().viewRange()
    assert v_low == 40 and v_high == 60


def test_the_loss_plot_follows_its_points_in_steps_and_keeps_a_users_zoom(monitor):
    """The axes move a few times in a run, not with each point (their labels are laid out again each
    time they move); a zoomed view stays as the user left it until auto-range is pressed."""
    view = monitor.loss_plot.getPlotItem().getViewBox()
    losses = [0.9, 0.7, 0.65, 0.6, 0.6, 0.58]
    _feed(monitor, [RunStarted(1, _config(), 10, 10, "cpu"),
                    *(LossReported(step, 1, "factual pass", loss, 1e-4) for step, loss in enumerate(losses, 1))])
    (x_low, x_high), (y_low, y_high) = view.viewRange()
    assert -0.2 < x_low <= 0 and -0.03 < y_low <= 0 and 6 < x_high <= 8.2 and 0.9 < y_high <= 1.02  # every point shown
    moved = []
    view.sigRangeChanged.connect(lambda *args: moved.append(args))
    _feed(monitor, [LossReported(7, 1, "factual pass", 0.55, 1e-4)])  # within the ends: nothing moves
    assert moved == []
    _feed(monitor, [LossReported(40, 1, "factual pass", 1.7, 1e-4)])  # past the ends: the view grows
    (_, x_high), (_, y_high) = view.viewRange()
    assert 40 < x_high <= 51 and 1.7 < y_high <= 2.04
    view.setRange(xRange=(10, 20), padding=0)  # as a mouse zoom does, which pyqtgraph reports so
    view.sigRangeChangedManually.emit(view.state["mouseEnabled"])
    _feed(monitor, [LossReported(60, 1, "factual pass", 0.5, 1e-4)])
    assert view.viewRange()[0] == [10, 20]
    view.enableAutoRange()  # the plot's auto-range button
    _feed(monitor, [LossReported(80, 1, "factual pass", 0.5, 1e-4)])
    (x_low, x_high), _ = view.viewRange()
    assert -2.5 < x_low <= 0 and 80 < x_high <= 102 and not any(view.autoRangeEnabled())


def test_the_validation_plot_moves_in_whole_tens_of_per_cent(monitor):
    view = monitor.val_plot.getPlotItem().getViewBox()
    metrics = [{"val_combined": 0.52, "val_factual": 0.61}, {"val_combined": 0.58, "val_factual": 0.66},
               {"val_combined": 0.71, "val_factual": 0.93}]
    _feed(monitor, [RunStarted(1, _config(), 10, 10, "cpu"), EpochEnded(1, "cast", metrics[0], True, 1)])
    low, high = view.viewRange()[1]
    assert 49 < low < 50 and 70 < high < 71  # 52 and 61: whole tens with room above and below
    moved = []
    view.sigRangeChanged.connect(lambda *args: moved.append(args))
    _feed(monitor, [EpochEnded(2, "cast", metrics[1], True, 2)])
    assert moved == []  # 58 and 66 are inside: the axes stay as they were
    _feed(monitor, [EpochEnded(3, "cast", metrics[2], True, 3)])
    low, high = view.viewRange()[1]
    assert 48.5 < low < 50 and 100 < high < 101.5 and not any(view.autoRangeEnabled())


def test_a_resumed_run_is_replayed_as_it_was(qtbot, monitor, tiny_config, store_path, tmp_path):
    """Rows of the mask heat map in model order and the losses before the resume kept."""
    from cast_engine.store import RunStore
    from cast_engine.runs.runner import resume, run

    config = tiny_config("cast", method_options={"k": "5%"}, max_epochs=3)
    config.train.log_every = 1
    with RunStore(store_path) as store:
        token, first = CancelToken(), []

        def stop_after_epoch_one(event):
            first.append(event)
            if isinstance(event, EpochEnded) and event.epoch == 1:
                token.cancel("test stop")

        stopped = run(config, store=store, cancel=token, sinks=[stop_after_epoch_one])
        seen = []
        resume(stopped.run_id, store=store, sinks=[seen.append])
    _feed(monitor, seen)
    assert monitor.mask_layers == ["embeddings", "layer 0", "layer 1", "head"]
    before = [(e.step, e.loss) for e in first if isinstance(e, LossReported) and e.epoch == 1]
    shown = list(zip(*monitor.loss_curve.getData()))
    assert before and [(x, pytest.approx(y)) for x, y in shown[:len(before)]] == before


# ---------------------------------------------------------------- point 6: the smaller points
@pytest.fixture
def data_page(qtbot):
    from cast_studio.pages.data_page import DataPage

    page = DataPage()
    qtbot.addWidget(page)
    page.resize(1200, 700)
    return page


def _load(qtbot, page, cfg: DataConfig) -> None:
    with qtbot.waitSignal(page.dataset_changed, timeout=60_000):
        page.set_data_config(cfg)


def test_the_nli_raw_variant_says_it_has_no_revisions(qtbot, data_page, cad_dir):
    _load(qtbot, data_page, DataConfig(data=str(cad_dir), task="nli", variant="RAW"))
    panel = data_page.label_panel
    assert panel.chart_title.text() == "Label pairs (train)" and not panel.chart.isVisibleTo(data_page)
    assert panel.no_pairs_note.isVisibleTo(data_page) and "no revisions, only originals" in panel.no_pairs_note.text()
    assert data_page.label_pair_counts == {}
    assert "this folder also holds Sentiment: choose it under Task" in data_page.summary_label.text()
    assert "Unconfirmed pairs: paired by row position" in data_page.summary_label.toolTip()


def test_line_break_markup_is_not_shown_in_the_preview(qtbot, data_page, table_writer):
    rows = []
    for i in range(6):
        split = ("train", "dev", "test")[i % 3]
        rows += [{"pair_id": f"p{i}", "split": split, "role": "original", "label": "positive",
                  "text": f"a fine film {i}<br /><br />truly good"},
                 {"pair_id": f"p{i}", "split": split, "role": "revised", "label": "negative",
                  "text": f"a dull film {i}<br /><br />truly bad"}]
    path = table_writer("imdb.csv", rows)
    _load(qtbot, data_page, DataConfig(data=str(path), task="sentiment"))
    model = data_page.preview_model
    shown = [model.index(r, c).data() for r in range(model.rowCount()) for c in (3, 4)]
    assert shown and not any("<br" in text for text in shown)
    assert "a fine film 0  truly good" in shown[0]
    assert all("&lt;br" not in part for row in range(model.rowCount()) for part in model.row_html(row))


def test_the_welcome_banner_goes_once_the_users_own_data_is_open(qtbot, window, table_writer):
    window.banner.show()
    rows = [{"pair_id": f"p{i}", "split": ("train", "dev", "test")[i % 3], "role": role, "label": label,
             "text": f"{word} film {i}"}
            for i in range(6) for role, label, word in (("original", "positive", "good"), ("revised", "negative", "bad"))]
    path = table_writer("mine.csv", rows)
    with qtbot.waitSignal(window.data_page.dataset_changed, timeout=60_000):
        window.data_page.load_source(str(path))
    assert not window.banner.isVisible()


def test_an_empty_sweep_view_has_no_fake_axes_and_unfinished_cells_stay_blank(qtbot):
    from cast_engine.experiments.outputs import SweepGrid
    from cast_studio.pages.sweep_plots import SweepPlots

    plots = SweepPlots()
    qtbot.addWidget(plots)
    plots.show_grid(None)
    (x_low, x_high), (y_low, y_high) = plots.heat.getPlotItem().getViewBox().viewRange()
    assert (x_low, x_high, y_low, y_high) == (0, 1, 0, 1)
    assert "no sweep to show yet" in plots.heat.getPlotItem().titleLabel.text
    grid = _two_by_two_grid_with_one_cell_done(SweepGrid)
    plots.show_grid(grid)
    image = plots.image.image
    assert np.isnan(image).sum() == 3  # drawn blank, not in the colour of the lowest accuracy
    assert [t.toPlainText() for t in plots.cell_texts].count("no run yet") == 3


def _two_by_two_grid_with_one_cell_done(grid_cls):
    from cast_engine.experiments.outputs import GridPoint

    done = (0.01, "1e3")
    points = [GridPoint(x=a, y=k, values=[80.0] if (a, k) == done else [], run_ids=[1] if (a, k) == done else [])
              for a in (0.01, 0.05) for k in ("1e3", "1e4")]
    return grid_cls("method.alpha", "method.k", "combined", points)


def test_the_window_fits_a_1366_by_768_screen_after_a_run(qtbot, window):
    cfg = _config(name="cast-a0.05-k1e5-nli-RH1-n200-" + "long-" * 20 + "seed1")
    window.monitor_page.on_event(RunStarted(1, cfg, 22_714_371, 22_714_371, "cuda:0", {"k": 227_144, "eligible_params": 22_714_371}))
    window.monitor_page.on_event(RunEnded(1, "failed", "a long reason " * 30, None))
    window.monitor_page.flush()
    for name in ("Data", "Experiment", "Monitor", "Sweep", "History"):
        window.show_page(name)
        qtbot.wait(10)
        hint = window.minimumSizeHint()
        assert hint.width() <= 1366 and hint.height() <= 740, (name, hint)
    window.resize(1366, 768)
    assert window.width() == 1366


# ---------------------------------------------------------------- point 1: what you see is what trains
def _pairs(table_writer, name: str = "mine.csv", n: int = 24):
    rows = []
    for i in range(n):
        split = ("train", "dev", "test")[i % 3]
        good = i % 2 == 0
        rows += [{"pair_id": f"p{i}", "split": split, "role": "original", "label": "positive" if good else "negative",
                  "text": f"{'a good' if good else 'a bad'} film number {i}"},
                 {"pair_id": f"p{i}", "split": split, "role": "revised", "label": "negative" if good else "positive",
                  "text": f"{'a bad' if good else 'a good'} film number {i}"}]
    return table_writer(name, rows)


@pytest.fixture
def held_loads(monkeypatch):
    """Data page loads wait for ``release`` (set it to let them finish); ``started`` is set when one waits."""
    import threading

    from cast_studio.pages import data_loading

    real, gate = data_loading.load_data, {"release": threading.Event(), "started": threading.Event()}

    def held(cfg, *args, **kwargs):
        gate["started"].set()
        gate["release"].wait(120)
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(data_loading, "load_data", held)
    yield gate
    gate["release"].set()


def _window_with_saved_data(qtbot, tmp_path, monkeypatch, store_path, data: DataConfig):
    import dataclasses
    import json

    from PySide6.QtCore import QSettings

    monkeypatch.setenv("CAST_STUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("data", json.dumps(dataclasses.asdict(data)))
    settings.sync()
    from cast_studio.main_window import MainWindow

    win = MainWindow(store_path)
    qtbot.addWidget(win)
    win.show()
    return win


def test_run_and_launch_wait_for_the_data_and_say_which(qtbot, tmp_path, monkeypatch, store_path, table_writer,
                                                        held_loads, tiny_model_dir):
    path = _pairs(table_writer)
    win = _window_with_saved_data(qtbot, tmp_path, monkeypatch, store_path, DataConfig(data=str(path), task="sentiment"))
    page = win.experiment_page
    page.set_model(str(tiny_model_dir))
    qtbot.waitUntil(held_loads["started"].is_set, timeout=10_000)
    assert not page.run_button.isEnabled() and not win.run_action.isEnabled()
    assert page.summary.toolTip() == f"the data is still loading: {path} (sentiment, CAD)"
    assert "still loading" in win.run_action.toolTip()
    win.show_page("Sweep")
    assert not win.sweep_page.launch_button.isEnabled() and "still loading" in win.sweep_page.launch_button.toolTip()
    with qtbot.waitSignal(win.data_page.dataset_changed, timeout=60_000):
        held_loads["release"].set()
    assert page.run_button.isEnabled() and win.run_action.isEnabled() and win.sweep_page.launch_button.isEnabled()
    assert page.summary.text() == f"1 run on {path} (sentiment, CAD): cast ×1"
    win.queue.shutdown()


def test_a_failed_load_neither_falls_back_to_the_demo_nor_replaces_the_saved_choice(qtbot, tmp_path, monkeypatch,
                                                                                    store_path):
    import json

    from PySide6.QtCore import QSettings

    missing = tmp_path / "gone" / "cad.csv"
    win = _window_with_saved_data(qtbot, tmp_path, monkeypatch, store_path, DataConfig(data=str(missing), task="nli"))
    qtbot.waitUntil(lambda: not win.data_page.is_busy() and win.data_page.problem_label.text() != "", timeout=60_000)
    page = win.experiment_page
    assert not page.run_button.isEnabled() and not win.run_action.isEnabled()
    assert page.summary.toolTip().startswith("the data did not load: ") and str(missing) in page.summary.toolTip()
    assert "demo" not in page.summary.toolTip()
    win.close()
    saved = json.loads(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat).value("data"))
    assert (saved["data"], saved["task"]) == (str(missing), "nli")


def test_a_run_started_while_the_data_page_loads_trains_on_its_own_data(qtbot, tmp_path, monkeypatch, store_path,
                                                                         table_writer, held_loads, tiny_config):
    """The race of a load and a run starting together: the run trains on its data, the load still succeeds."""
    from cast_engine.store import RunStore

    path = _pairs(table_writer)
    win = _window_with_saved_data(qtbot, tmp_path, monkeypatch, store_path, DataConfig(data=str(path), task="sentiment"))
    qtbot.waitUntil(held_loads["started"].is_set, timeout=10_000)
    config = tiny_config("full", data=str(path), max_epochs=1)
    started = []
    win.queue.event.connect(lambda e: (started.append(e), held_loads["release"].set()) if isinstance(e, RunStarted) else None)
    with qtbot.waitSignal(win.queue.idle, timeout=300_000):
        win.queue.submit([config])
    qtbot.waitUntil(lambda: win.data_page.dataset is not None and not win.data_page.is_busy(), timeout=60_000)
    assert win.data_page.problem_label.text() == "" and win.data_page.source_label.text() != "demo"
    assert win.experiment_page.data_config.data == str(path)
    with RunStore(store_path) as store:
        (run,) = store.list_runs()
    assert run["status"] == "completed" and run["config"]["data"]["data"] == str(path)
    assert list(run["data_hashes"]) == [str(path)]
    assert win.monitor_page.data_label.text() == f"data: {path} (sentiment, CAD)"
    win.queue.shutdown()


def test_tokenising_waits_while_another_thread_imports_transformers(tiny_model_dir, tmp_path):
    """Hugging Face datasets (used to tokenise) never meets a half-imported transformers.

    Data files are read without datasets; tokenising is where datasets runs, so it takes
    the import lock that ``cast_engine.imports.import_transformers`` holds.
    """
    import threading

    from cast_engine.data.types import Example
    from cast_engine.imports import no_import_in_progress
    from cast_engine.train.batches import tokenize_examples
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = [Example(text_a=f"review {i}", text_b=None, label=i % 2) for i in range(4)]
    importing, release, done = threading.Event(), threading.Event(), threading.Event()

    def importer():  # stands for a thread halfway through `import transformers`
        with no_import_in_progress():
            importing.set()
            release.wait(60)

    threading.Thread(target=importer).start()
    importing.wait(10)
    worker = threading.Thread(target=lambda: (tokenize_examples(examples, tokenizer, 16, tmp_path), done.set()))
    worker.start()
    assert not done.wait(0.5)  # tokenising has not run past the import
    release.set()
    worker.join(60)
    assert done.is_set()


def test_compare_shows_what_a_sparse_mask_keeps_beside_what_the_passes_train(qtbot, window, store_path):
    from cast_engine.store import RunStore

    ids = []
    with RunStore(store_path) as store:
        for alpha in (0.05, 0.15):
            run_id = store.create_run({"method": {"name": "cast", "alpha": alpha}}, method="cast", task="nli",
                                      variant="RH1", regime="cad", model="minilm", seed=1,
                                      trainable_params=22_714_371, total_params=22_714_371)
            store.finish_run(run_id, "completed", results={
                "combined": 0.8, "method_info": {"k": 227_144, "k_share": 0.01, "eligible_params": 22_714_371}})
            ids.append(run_id)
    window.history_page.refresh()
    dialog = window.history_page.compare_runs(ids)
    rows = {dialog.results_view.verticalHeaderItem(r).text(): dialog.results_view.item(r, 0).text()
            for r in range(dialog.results_view.rowCount())}
    assert rows["Trainable params"] == "22.7 M (100 %)"
    assert rows["Mask keeps (K of eligible)"] == "227,144 of 22,714,371 (1 %)"
    dialog.close()


def test_a_run_keeps_its_colour_in_compare_however_the_runs_are_ordered(qtbot, window, store_path):
    from cast_engine.store import RunStore
    from cast_studio.pages.compare import CompareDialog

    with RunStore(store_path) as store:
        ids = [store.create_run({"method": {"name": "full"}}, method="full", task="nli", variant="RH1", regime="cad",
                                model="minilm", seed=seed) for seed in (1, 2)]
        runs = [store.get_run(run_id) for run_id in ids]
    views = [CompareDialog(order, {run_id: [] for run_id in ids}) for order in (runs, runs[::-1])]
    for dialog in views:
        qtbot.addWidget(dialog)
    first, second = ([dialog.results_view.horizontalHeaderItem(c).text() for c in range(2)] for dialog in views)
    assert first == second and first[0].startswith(f"#{ids[0]} ")


def test_the_monitor_follows_a_sweeps_trials_and_its_stop_stops_the_sweep(qtbot, window, tiny_model_dir, store_path):
    from cast_engine.store import RunStore
    from cast_studio.events import SweepEnded

    page = window.experiment_page
    page.set_model(str(tiny_model_dir))
    page.set_checked_methods(["cast"])
    page.set_devices([{"id": "cpu", "name": "CPU", "memory_bytes": None}])
    page.device.setCurrentIndex(page.device.findData("cpu"))
    for name, value in {"max_epochs": "2", "batch_size": "16", "max_length": "48"}.items():
        assert page.train_form.set_text(name, value)
    sweep, monitor = window.sweep_page, window.monitor_page
    sweep.axes.set_axes([("method.alpha", "0.01, 0.3"), ("train.seed", "1")])
    seen, ended = {}, []

    def watch(event):
        if isinstance(event, LossReported) and not seen:
            monitor.flush()
            seen.update(title=monitor.title_label.text(), stop=monitor.stop_button.isEnabled(),
                        queue=monitor.queue_label.text(), points=len(monitor.loss_curve.getData()[0] or []))
            qtbot.mouseClick(monitor.stop_button, Qt.MouseButton.LeftButton)
        if isinstance(event, SweepEnded):
            ended.append(event)

    window.queue.event.connect(watch)
    assert sweep.launch()
    qtbot.waitUntil(lambda: bool(ended) and not window.queue.is_running(), timeout=300_000)
    assert seen["title"].startswith("Sweep ") and "trial 1 of 2" in seen["title"] and "cast-a0.01" in seen["title"]
    assert seen["stop"] and seen["queue"].startswith("sweep ") and seen["points"] >= 1
    assert ended[0].status == "stopped" and monitor.status_label.text() == "Stopped"
    assert "cancelled" in monitor.log_text()  # the trial's own end is logged
    assert monitor.queue_label.text() == f"sweep {ended[0].sweep_id} stopped"
    with RunStore(store_path) as store:
        assert [r["status"] for r in store.list_runs()] in ([], ["cancelled"])  # the second trial never started


def test_a_sweep_in_worker_processes_shows_its_progress_and_stop_stops_it(qtbot, monitor):
    from cast_engine.experiments.sweep import SweepProgress
    from cast_studio.events import SweepEnded

    monitor.on_event(SweepProgress(3, 1, 4, 0, 60.0))
    assert monitor.title_label.text() == "Sweep 3" and monitor.status_label.text() == "Sweeping"
    assert monitor.progress_bar.format() == "1 of 4 trials" and monitor.queue_label.text() == "sweep 3: 1 of 4 trials done"
    assert monitor.stop_button.isEnabled()
    with qtbot.waitSignal(monitor.stop_requested, timeout=1000):
        qtbot.mouseClick(monitor.stop_button, Qt.MouseButton.LeftButton)
    monitor.on_event(SweepEnded(3, "stopped", "sweep 3 stopped"))
    assert monitor.status_label.text() == "Stopped" and not monitor.stop_button.isEnabled()
    assert monitor.queue_label.text() == "sweep 3 stopped"
