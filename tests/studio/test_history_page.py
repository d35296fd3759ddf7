"""The History page: listing, sorting, filters, refresh, compare, delete and exports."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import csv  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QDate, Qt  # noqa: E402
from PySide6.QtWidgets import QWidget  # noqa: E402

from cast_engine.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from cast_engine.methods.registry import get_method  # noqa: E402
from cast_studio.pages.history_page import COLUMN, HistoryPage  # noqa: E402
from cast_studio.store_access import open_store  # noqa: E402

TOTAL = 110_000_000


def config_dict(method="cast", seed=1, lr=5e-5, task="sentiment", variant="CAD", **options) -> dict:
    """A real RunConfig layout (torch-free) for a hand-written run."""
    return RunConfig(data=DataConfig(task=task, variant=variant), train=TrainConfig(lr=lr, seed=seed, max_epochs=5),
                     method=get_method(method).config_cls(**options), model="minilm").to_dict()


def add_run(store, *, method="cast", seed=1, lr=5e-5, status="completed", combined=0.80, task="sentiment",
            variant="CAD", regime="cad", epochs=5, name=None, started=None, trainable=10_000_000,
            reason=None, **options) -> int:
    """Write a run with epoch curves and test results straight into the store."""
    config = config_dict(method, seed, lr, task, variant, **options)
    run_id = store.create_run(config, method=method, task=task, variant=variant, regime=regime, model="minilm",
                              seed=seed, name=name, trainable_params=trainable, total_params=TOTAL)
    rate = 0.5 + 0.1 * seed + 0.04 * len(method)
    for epoch in range(1, epochs + 1):
        val = combined - (combined - 0.5) * math.exp(-rate * epoch)
        store.add_epoch(run_id, epoch, method, {
            "train_loss": 0.69 * math.exp(-0.4 * rate * epoch) + 0.5 * (1 - combined), "lr": lr * (1 - epoch / epochs),
            "elapsed_s": 30.0 * epoch, "val_combined": val, "val_factual": val + 0.03,
            "val_counterfactual": val - 0.03, "val_pair": val - 0.15,
        })
    if started is not None:
        store.update_run(run_id, started_at=started, created_at=started)
    if status != "running":
        results = {"combined": combined, "factual": combined + 0.03, "counterfactual": combined - 0.03,
                   "pair": combined - 0.15, "n_factual": 488, "n_counterfactual": 488, "n_pairs": 488,
                   "epochs_completed": epochs, "method_info": {}}
        store.finish_run(run_id, status, reason=reason, best_epoch=epochs,
                         results=results if status == "completed" else {"epochs_completed": epochs})
    return run_id


CAST_A = (0.842, 0.861, 0.853)  # cast alpha 0.05, seeds 1-3
CAST_B = (0.801, 0.823)         # cast alpha 0.2, seeds 1-2
FULL = (0.815, 0.829, 0.808)    # full fine-tuning, seeds 1-3


@pytest.fixture
def filled_store(tmp_path):
    """A store of 14 runs: several methods and seeds, a failed, a cancelled and a running one."""
    path = tmp_path / "history" / "runs.sqlite"
    store = open_store(path)
    ids = {}
    ids["cast_a"] = [add_run(store, seed=s + 1, combined=v, alpha=0.05) for s, v in enumerate(CAST_A)]
    ids["cast_b"] = [add_run(store, seed=s + 1, combined=v, alpha=0.2) for s, v in enumerate(CAST_B)]
    ids["full"] = [add_run(store, method="full", seed=s + 1, combined=v, trainable=TOTAL)
                   for s, v in enumerate(FULL)]
    ids["lora"] = [add_run(store, method="lora", seed=s + 1, combined=v, trainable=1_200_000)
                   for s, v in enumerate((0.781, 0.794))]
    ids["nli"] = [add_run(store, method="bitfit", task="nli", variant="RH1", combined=0.55, trainable=110_000)]
    ids["failed"] = [add_run(store, method="lora", seed=3, status="failed", epochs=2,
                             reason="training diverged: the loss is nan at step 40", trainable=1_200_000)]
    old = (datetime.now(timezone.utc) - timedelta(days=40)).isoformat(timespec="microseconds")
    ids["old"] = [add_run(store, method="full", seed=4, status="cancelled", epochs=1, started=old,
                          reason="cancelled by the user", trainable=TOTAL)]
    ids["running"] = [add_run(store, seed=4, status="running", epochs=2, alpha=0.05)]
    yield path, ids
    store.close()  # the store that created the running run owns it (holds its lock) until the test ends


@pytest.fixture
def page(qtbot, filled_store):
    path, _ = filled_store
    widget = HistoryPage(path)
    qtbot.addWidget(widget)
    widget.errors = []
    widget.show_error = widget.errors.append
    return widget


def cell(page, row, key):
    return page.proxy.index(row, COLUMN[key]).data()


def by_hand(values):
    pct = [100 * v for v in values]
    return statistics.fmean(pct), (statistics.stdev(pct) if len(pct) > 1 else None)


# ------------------------------------------------------------------ listing and sorting

def test_lists_every_run_newest_first(page, filled_store):
    assert page.model.rowCount() == 14 and page.proxy.rowCount() == 14
    ids = page.visible_ids()
    assert ids == sorted(ids, reverse=True)
    first = page.model.row_of(filled_store[1]["cast_a"][0])
    texts = page.model.texts(first)
    assert texts[COLUMN["combined"]] == "84.2" and texts[COLUMN["factual"]] == "87.2"
    assert texts[COLUMN["method"]] == "cast" and texts[COLUMN["seed"]] == "1"
    assert texts[COLUMN["trainable_params"]] == "10.0 M (9.1 %)"


def test_sort_by_combined_accuracy_is_numeric_with_blanks_last(page, qtbot):
    page.view.sortByColumn(COLUMN["combined"], Qt.SortOrder.DescendingOrder)
    values = [cell(page, row, "combined") for row in range(page.proxy.rowCount())]
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers, reverse=True) and numbers[0] == 86.1
    assert values[len(numbers):] == [""] * (len(values) - len(numbers))  # failed/running last
    page.view.sortByColumn(COLUMN["combined"], Qt.SortOrder.AscendingOrder)
    values = [cell(page, row, "combined") for row in range(page.proxy.rowCount())]
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers) and numbers[0] == 55.0 and values[-1] == ""


def test_a_sort_reads_the_store_once(page, monkeypatch):
    """Qt's sortByColumn asks the model to sort twice; the second ask must not read the store again
    (over 10,000 runs each read of a sorted page cost 10-40 ms of the window's time)."""
    import cast_studio.pages.history_table as history_table

    reads = []
    run_ids = history_table.run_ids
    monkeypatch.setattr(history_table, "run_ids", lambda *a, **k: reads.append(a[2:]) or run_ids(*a, **k))
    page.view.sortByColumn(COLUMN["combined"], Qt.SortOrder.DescendingOrder)
    assert len(reads) == 1
    page.view.sortByColumn(COLUMN["combined"], Qt.SortOrder.AscendingOrder)  # a new order is read, once
    assert len(reads) == 2
    assert cell(page, 0, "combined") == "55.0"


def test_status_cells_are_coloured_with_reason_tooltip(page, filled_store):
    colours = {}
    for row in range(page.proxy.rowCount()):
        index = page.proxy.index(row, COLUMN["status"])
        colours[index.data()] = index.data(Qt.ItemDataRole.BackgroundRole).name()
        if index.data() == "failed":
            assert "loss is nan" in index.data(Qt.ItemDataRole.ToolTipRole)
    assert len(set(colours.values())) == 4  # completed, failed, cancelled, running
    assert colours["completed"].startswith("#d") and colours["failed"].startswith("#f8")


# ------------------------------------------------------------------ filters

def test_combo_filters(page, filled_store):
    ids = filled_store[1]
    assert page.method_filter.itemText(0) == "any"
    assert [page.method_filter.itemText(i) for i in range(page.method_filter.count())] == \
        ["any", "bitfit", "cast", "full", "lora"]
    page.method_filter.setCurrentText("cast")
    assert sorted(page.visible_ids()) == sorted(ids["cast_a"] + ids["cast_b"] + ids["running"])
    page.status_filter.setCurrentText("completed")
    assert sorted(page.visible_ids()) == sorted(ids["cast_a"] + ids["cast_b"])
    page.method_filter.setCurrentText("any")
    page.status_filter.setCurrentText("any")
    page.task_filter.setCurrentText("nli")
    assert page.visible_ids() == ids["nli"]
    page.task_filter.setCurrentText("any")
    page.variant_filter.setCurrentText("RH1")
    assert page.visible_ids() == ids["nli"]
    page.variant_filter.setCurrentText("any")
    assert page.proxy.rowCount() == 14


def test_since_filter(page, filled_store):
    page.since_edit.setDate(QDate.currentDate().addDays(-7))
    assert page.proxy.rowCount() == 14  # unchecked: no effect
    page.since_check.setChecked(True)
    assert filled_store[1]["old"][0] not in page.visible_ids() and page.proxy.rowCount() == 13
    page.since_edit.setDate(QDate.currentDate().addDays(-60))
    assert page.proxy.rowCount() == 14


def test_name_filter(page, filled_store):
    page.name_filter.setText("LORA-")
    assert sorted(page.visible_ids()) == sorted(filled_store[1]["lora"] + filled_store[1]["failed"])
    page.name_filter.setText("no such run")
    assert page.proxy.rowCount() == 0 and "0 of 14" in page.count_label.text()


# ------------------------------------------------------------------ refresh

def test_refresh_shows_new_runs_keeping_selection_and_sort(page, filled_store):
    path, ids = filled_store
    page.view.sortByColumn(COLUMN["combined"], Qt.SortOrder.DescendingOrder)
    page.select_runs(ids["full"][:2])
    store = open_store(path)
    new = add_run(store, method="full", seed=9, combined=0.99)
    store.close()
    assert new not in page.model.run_ids()
    page.refresh()
    assert page.model.rowCount() == 15 and page.visible_ids()[0] == new
    assert page.proxy.sortColumn() == COLUMN["combined"]
    assert page.proxy.sortOrder() == Qt.SortOrder.DescendingOrder
    assert sorted(page.selected_ids()) == sorted(ids["full"][:2])


def _store_of(path, n_runs: int):
    store = open_store(path)
    run_id = add_run(store)
    row = store.db.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    columns = [c[0] for c in store.db.conn.execute("SELECT * FROM runs").description]
    copies = [tuple(None if name == "id" else value for name, value in zip(columns, row)) for _ in range(n_runs - 1)]
    with store.db.conn:
        store.db.conn.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * len(columns))})", copies)
    store.close()
    return path


def _open_sorted(qtbot, path, n_runs: int) -> float:
    started = time.perf_counter()
    widget = HistoryPage(path)
    qtbot.addWidget(widget)
    widget.resize(1300, 800)
    widget.show()
    qtbot.wait(10)
    widget.view.sortByColumn(COLUMN["combined"], Qt.SortOrder.DescendingOrder)
    widget.refresh()
    assert widget.model.rowCount() == n_runs
    return time.perf_counter() - started


def test_reading_a_thousand_runs_is_quick(qtbot, tmp_path):
    # the cost grows with the runs, not faster: 10x the runs take well under 100x the time
    small = _open_sorted(qtbot, _store_of(tmp_path / "small.sqlite", 100), 100)
    big = _open_sorted(qtbot, _store_of(tmp_path / "big.sqlite", 1000), 1000)
    assert big < 30 * small, f"100 runs: {small:.3f} s; 1,000 runs: {big:.3f} s"


# ------------------------------------------------------------------ compare

def test_compare_two_runs(page, filled_store, qtbot):
    path, ids = filled_store
    a, b = ids["cast_a"][0], ids["cast_b"][1]
    page.select_runs([a, b])
    assert page.compare_button.isEnabled()
    page.compare_button.click()
    dialog = page.compare_dialogs[-1]
    qtbot.addWidget(dialog)
    store = open_store(path)
    for run_id in (a, b):
        rows = store.epochs(run_id)
        xs, ys = dialog.accuracy_curves[run_id].getData()
        assert list(xs) == [row["epoch"] for row in rows]
        assert list(ys) == pytest.approx([100 * row["val_combined"] for row in rows])
        xs, ys = dialog.loss_curves[run_id].getData()
        assert list(ys) == pytest.approx([row["train_loss"] for row in rows])
    dialog.metric_combo.setCurrentText("pair")
    _, ys = dialog.accuracy_curves[a].getData()
    assert list(ys) == pytest.approx([100 * row["val_pair"] for row in store.epochs(a)])
    store.close()
    assert "method.alpha" in dialog.diff_rows and "train.seed" in dialog.diff_rows
    assert "train.lr" not in dialog.diff_rows and "method.name" not in dialog.diff_rows
    row = dialog.diff_rows.index("method.alpha")
    assert [dialog.diff_table.item(row, c).text() for c in range(2)] == ["0.05", "0.2"]
    assert dialog.diff_table.rowCount() == len(dialog.diff_rows)
    legend = [label.text for _, label in dialog.accuracy_plot.plotItem.legend.items]
    assert legend[0].startswith(f"#{a} ") and legend[1].startswith(f"#{b} ")
    results = {dialog.results_view.verticalHeaderItem(r).text(): dialog.results_view.item(r, 0).text()
               for r in range(dialog.results_view.rowCount())}
    assert results["Combined (test, %)"] == "84.2" and results["Pair (test, %)"] == "69.2"
    assert results["Trainable params"] == "10.0 M (9.1 %)"


def test_compare_needs_two_runs(page, filled_store):
    page.select_runs(filled_store[1]["cast_a"][:1])
    assert not page.compare_button.isEnabled() and page.delete_button.isEnabled()
    page.select_runs([])
    assert not page.delete_button.isEnabled() and not page.export_button.isEnabled()


# ------------------------------------------------------------------ delete

def test_delete_with_confirmation(page, filled_store, monkeypatch):
    path, ids = filled_store
    asked = []
    monkeypatch.setattr(page, "confirm", lambda question: asked.append(question) or True)
    target = ids["lora"]
    assert page.delete_runs(target) == target
    assert asked and "these 2 runs" in asked[0]
    assert not set(target) & set(page.model.run_ids()) and page.model.rowCount() == 12
    store = open_store(path)
    assert not set(target) & {run["id"] for run in store.list_runs()} and store.epochs(target[0]) == []
    store.close()


def test_delete_declined_keeps_runs(page, filled_store, monkeypatch):
    monkeypatch.setattr(page, "confirm", lambda question: False)
    assert page.delete_runs(filled_store[1]["full"]) == []
    assert page.model.rowCount() == 14


def test_running_run_cannot_be_deleted(page, filled_store, monkeypatch):
    monkeypatch.setattr(page, "confirm", lambda question: pytest.fail("must not ask"))
    running = filled_store[1]["running"][0]
    assert page.delete_runs([running, filled_store[1]["full"][0]]) == []
    assert page.errors and f"#{running}" in page.errors[0] and "running" in page.errors[0]
    assert page.model.rowCount() == 14


# ------------------------------------------------------------------ exports

def test_export_table_formats(page, filled_store, tmp_path):
    ids = filled_store[1]
    chosen = ids["cast_a"] + ids["cast_b"] + ids["full"] + ids["failed"] + ids["running"]
    groups = {("cast", "0.05"): CAST_A, ("cast", "0.2"): CAST_B, ("full", "–"): FULL}

    (csv_path,) = page.export_table(chosen, tmp_path / "results.csv")
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 3
    for row in rows:
        mean, std = by_hand(groups[(row["method"], row["alpha"])])
        assert float(row["combined_mean"]) == pytest.approx(mean, abs=1e-4)
        assert float(row["combined_std"]) == pytest.approx(std, abs=1e-4)
        assert int(row["n"]) == len(groups[(row["method"], row["alpha"])])

    (md_path,) = page.export_table(chosen, tmp_path / "results.md")
    text = md_path.read_text()
    assert text.startswith("Combined test accuracy (%), mean ± std over seeds.")
    for values in groups.values():
        mean, std = by_hand(values)
        assert f"| {len(values)} | {mean:.1f} ± {std:.1f} |" in text

    (tex_path,) = page.export_table(chosen, tmp_path / "results.tex")
    text = tex_path.read_text()
    assert "\\toprule" in text and "mean $\\pm$ std over seeds" in text
    for values in groups.values():
        mean, std = by_hand(values)
        assert f"& {len(values)} & {mean:.1f} $\\pm$ {std:.1f} \\\\" in text
    assert page.errors == []


def test_export_table_errors_are_messages(page, filled_store, tmp_path):
    assert page.export_table(filled_store[1]["failed"], tmp_path / "t.csv") == []
    assert "nothing to put in a table" in page.errors[-1]
    assert page.export_table(filled_store[1]["full"], tmp_path / "t.xlsx") == []
    assert "unknown table format" in page.errors[-1]


def test_export_plots(page, filled_store, tmp_path):
    ids = filled_store[1]
    written = page.export_plots(ids["cast_a"][:1] + ids["full"][:1], tmp_path / "plots")
    assert sorted(p.suffix for p in written) == [".png", ".png", ".svg", ".svg"]
    for path in written:
        assert path.exists() and path.stat().st_size > 1000
    assert page.errors == []


def test_export_model_without_saved_model_is_a_message(page, filled_store, tmp_path):
    assert page.export_model(filled_store[1]["failed"][0], "hf", tmp_path / "out") == []
    assert "no saved model" in page.errors[-1]


def test_export_model_hf_of_a_real_run(qtbot, tiny_config, tmp_path):
    from cast_engine.runs.runner import run

    path = tmp_path / "real" / "runs.sqlite"
    result = run(tiny_config("full", max_epochs=1), store=path)
    assert result.status == "completed"
    widget = HistoryPage(path)
    qtbot.addWidget(widget)
    widget.errors = []
    widget.show_error = widget.errors.append
    (folder,) = widget.export_model(result.run_id, "hf", tmp_path / "exported")
    assert widget.errors == [] and (folder / "config.json").exists()

    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(folder)
    assert model.config.hidden_size == 32 and isinstance(model, torch.nn.Module)

    assert widget.export_model(result.run_id, "hf", tmp_path / "exported") == []
    assert "already exists" in widget.errors[-1]

    widget.errors.clear()
    widget.export_model_async(result.run_id, "delta", tmp_path / "delta")
    qtbot.waitUntil(lambda: widget.export_thread is None, timeout=60000)
    assert widget.errors == [] and (tmp_path / "delta" / "delta.safetensors").exists()
    assert "Exported run" in widget.message_label.text()


def test_unusable_store_is_a_message(qtbot, tmp_path, monkeypatch):
    errors = []
    monkeypatch.setattr(HistoryPage, "show_error", lambda self, text: errors.append(text))
    widget = HistoryPage(tmp_path)  # a folder, not a database file
    qtbot.addWidget(widget)
    assert errors and "Cannot open the run store" in errors[0]
    assert widget.model.rowCount() == 0 and widget.export_table([1], tmp_path / "t.csv") == []
    assert "is not open" in errors[-1]


# ------------------------------------------------------------------ config columns, picking columns

def test_config_columns_show_each_methods_fields(page, filled_store):
    ids = filled_store[1]
    alpha = {page.visible_ids()[row]: cell(page, row, "alpha") for row in range(page.proxy.rowCount())}
    assert {alpha[i] for i in ids["cast_a"]} == {"0.05"} and {alpha[i] for i in ids["cast_b"]} == {"0.2"}
    assert {alpha[i] for i in ids["full"]} == {""}  # full fine-tuning has no α
    row = page.visible_ids().index(ids["cast_a"][0])
    assert cell(page, row, "k") == "9.1%" and cell(page, row, "lr") == "5e-05"
    assert cell(page, row, "max_epochs") == "5" and cell(page, row, "data") == "demo"
    page.view.sortByColumn(COLUMN["alpha"], Qt.SortOrder.AscendingOrder)
    values = [cell(page, row, "alpha") for row in range(page.proxy.rowCount())]
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers) and numbers[0] == 0.05 and values[-1] == ""


def test_columns_are_picked_from_the_header_menu_and_kept(qtbot, filled_store, tmp_path, monkeypatch):
    monkeypatch.setenv("CAST_STUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    from cast_studio.main_window import MainWindow

    window = MainWindow(filled_store[0])
    qtbot.addWidget(window)
    history = window.history_page
    assert history.view.isColumnHidden(COLUMN["train_limit"]) and not history.view.isColumnHidden(COLUMN["alpha"])
    menu = history.column_menu()
    titles = [action.text() for action in menu.actions()]
    assert any(title.startswith("Train limit") for title in titles) and "Name" in titles
    limit_action = next(action for action in menu.actions() if action.text().startswith("Train limit"))
    alpha_action = next(action for action in menu.actions() if action.text().startswith("α"))
    limit_action.setChecked(True)
    alpha_action.setChecked(False)
    assert not history.view.isColumnHidden(COLUMN["train_limit"]) and history.view.isColumnHidden(COLUMN["alpha"])
    window.save_settings()
    window.close()

    again = MainWindow(filled_store[0])
    qtbot.addWidget(again)
    shown = again.history_page.shown_columns()
    assert "train_limit" in shown and "alpha" not in shown and "name" in shown


def test_columns_fit_their_content(qtbot, filled_store):
    path, _ = filled_store
    store = open_store(path)
    long_name = "cast-nli-RH1-cad-alpha0.05-k1%-lr5e-05-a-rather-long-descriptive-name"
    add_run(store, name=long_name, alpha=0.05)
    store.close()
    widget = HistoryPage(path)
    qtbot.addWidget(widget)
    widget.resize(1300, 700)
    widget.show()
    metrics = widget.view.fontMetrics()
    header = widget.view.horizontalHeader()
    assert header.sectionSize(COLUMN["name"]) >= metrics.horizontalAdvance(long_name)
    assert header.sectionSize(COLUMN["task"]) >= metrics.horizontalAdvance("sentiment")


def test_columns_widen_for_runs_that_arrive_later_and_keep_the_users_widths(qtbot, tmp_path):
    path = tmp_path / "runs.sqlite"
    store = open_store(path)
    add_run(store, method="full", name="full-1")  # no α, no K: those columns start as narrow as their titles
    widget = HistoryPage(path)
    qtbot.addWidget(widget)
    widget.resize(1300, 700)
    widget.show()
    header, metrics = widget.view.horizontalHeader(), widget.view.fontMetrics()
    header.resizeSection(COLUMN["status"], 300)  # the user widens a column by hand
    later = "cast-a0.05-k1e5-sentiment-CAD-a-name-longer-than-the-first-seed1"
    add_run(store, name=later, alpha=0.125, k="100000")
    store.close()
    widget.refresh()
    assert header.sectionSize(COLUMN["alpha"]) >= metrics.horizontalAdvance(cell(widget, 0, "alpha"))
    assert header.sectionSize(COLUMN["k"]) >= metrics.horizontalAdvance(cell(widget, 0, "k"))
    assert header.sectionSize(COLUMN["name"]) >= metrics.horizontalAdvance(later)
    assert header.sectionSize(COLUMN["status"]) == 300


def large_history(qtbot, path, runs: int):
    """A History page, shown, over a store of ``runs`` copies of one run; returns (page, the first run's id)."""
    store = open_store(path)
    run_id = add_run(store, epochs=1)
    row = store.db.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    columns = [c[0] for c in store.db.conn.execute("SELECT * FROM runs").description]
    copies = [tuple(None if name == "id" else value for name, value in zip(columns, row)) for _ in range(runs - 1)]
    with store.db.conn:
        store.db.conn.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * len(columns))})", copies)
    store.close()
    widget = HistoryPage(path)
    qtbot.addWidget(widget)
    widget.resize(1300, 700)
    widget.show()
    qtbot.wait(10)
    return widget, run_id


def test_a_large_history_fetches_only_the_rows_on_screen(qtbot, tmp_path):
    widget, run_id = large_history(qtbot, tmp_path / "big.sqlite", 3000)
    assert widget.model.rowCount() == 3000 and widget.count_label.text() == "3,000 runs"
    assert list(widget.model._blocks) == [0]  # one block of rows fetched: the ones on screen
    widget.view.scrollToBottom()
    qtbot.wait(10)
    assert widget.model.BLOCK * len(widget.model._blocks) < 3000 // 4
    assert cell(widget, widget.model.rowCount() - 1, "id") == str(run_id)
    widget.select_runs([run_id])
    widget.method_filter.setCurrentText("cast")
    assert widget.selected_ids() == [run_id]  # a filter keeps the selection it still shows


def test_a_new_sort_or_filter_shows_the_start_of_the_new_order_or_the_selected_run(qtbot, tmp_path):
    """As paged run tables do. Staying at the end read every id of the new order (20-40 ms over
    10,000 runs) to show rows nobody had asked for."""
    widget, _ = large_history(qtbot, tmp_path / "big.sqlite", 1000)
    bar = widget.view.verticalScrollBar()
    widget.view.scrollToBottom()
    qtbot.wait(10)
    assert bar.value() == bar.maximum() > 0
    widget.view.sortByColumn(COLUMN["combined"], Qt.SortOrder.AscendingOrder)
    qtbot.wait(10)
    assert bar.value() == 0 and widget.model._all is None  # the first rows, read without every id
    assert widget.view.rowAt(0) == 0
    widget.view.scrollToBottom()
    widget.name_filter.setText("cast")
    qtbot.wait(10)
    assert bar.value() == 0 and widget.model._all is None
    last = widget.model.rowCount() - 1
    widget.select_runs([widget.model.run_id(last)])
    widget.view.sortByColumn(COLUMN["combined"], Qt.SortOrder.DescendingOrder)  # the selected run is now first
    qtbot.wait(10)
    assert widget.selected_ids() == [widget.model.run_id(0)] and bar.value() == 0
    widget.view.sortByColumn(COLUMN["combined"], Qt.SortOrder.AscendingOrder)  # … and last again: it is followed
    qtbot.wait(10)
    selected = widget.view.selectionModel().selectedRows()[0]
    assert selected.row() == last and widget.view.viewport().rect().intersects(widget.view.visualRect(selected))


def test_a_filter_or_sort_paints_the_table_once(qtbot, tmp_path):
    """A view painted before its delayed layout painted again once the new row count reached its scroll
    bar: two 15-30 ms paints of every cell on screen for one choice in a filter."""
    from test_page_switch import PaintCounter

    widget, _ = large_history(qtbot, tmp_path / "big.sqlite", 500)
    store = open_store(widget.db_path)
    for seed in (1, 2, 3):
        add_run(store, method="full", seed=seed)
    store.close()
    widget.refresh()
    counter = PaintCounter()
    viewport = widget.view.viewport()
    viewport.installEventFilter(counter)
    actions = (lambda: widget.method_filter.setCurrentText("full"),  # 3 rows: no scroll bar
               lambda: widget.method_filter.setCurrentText("any"),  # 503 rows: the scroll bar again
               lambda: widget.view.sortByColumn(COLUMN["seed"], Qt.SortOrder.AscendingOrder),
               lambda: widget.name_filter.setText("cast"),
               widget.refresh)
    paints = []
    for action in actions:
        before = counter.paints[id(viewport)]
        action()
        qtbot.wait(50)
        paints.append(counter.paints[id(viewport)] - before)
    assert paints == [1] * len(actions)


def test_the_table_paints_in_the_turn_after_a_filter(qtbot, tmp_path):
    """A filter's query and the page's own repaint (the count of runs shown) come in one turn of the event
    loop and the table's cells in a later one, so that input and timers are served between them (over
    10,000 runs the two together held the window 35-50 ms)."""
    from test_page_switch import PaintCounter, assert_paints_once_after

    widget, _ = large_history(qtbot, tmp_path / "big.sqlite", 500)
    store = open_store(widget.db_path)
    add_run(store, method="full")
    store.close()
    widget.refresh()
    qtbot.wait(50)
    counter = PaintCounter()
    table, label = widget.view.viewport(), widget.count_label
    for watched in (table, label):
        watched.installEventFilter(counter)
    widget.method_filter.setCurrentText("full")
    assert_paints_once_after(counter, label, table)
    assert widget.count_label.text() == "1 of 501 runs shown"


def test_only_the_table_waits_for_its_turn(qtbot, tmp_path):
    """Shown again and refreshed in one turn (a run ended while History was hidden), the table waits for
    the next turn; the filters and buttons around it are drawn at once, and a moment later all of it."""
    from PySide6.QtWidgets import QApplication

    widget, _ = large_history(qtbot, tmp_path / "big.sqlite", 100)
    widget.hide()
    widget.show()
    widget.refresh()
    waiting = [w for w in widget.findChildren(QWidget) if w.isVisible() and not w.updatesEnabled()]
    assert waiting and all(w is widget.views or widget.views.isAncestorOf(w) for w in waiting)
    for _ in range(3):
        QApplication.processEvents()
    assert widget.views.updatesEnabled()


def test_a_column_shown_later_fits_its_content(qtbot, tmp_path):
    """Refreshes measure the shown columns only; one the user shows is measured then."""
    path = tmp_path / "runs.sqlite"
    store = open_store(path)
    model = "sentence-transformers/all-MiniLM-L6-v2"  # wider than a new column, narrower than the cap
    store.create_run(config_dict(), method="cast", task="sentiment", variant="CAD", regime="cad", model=model, seed=1)
    store.close()
    widget = HistoryPage(path)
    qtbot.addWidget(widget)
    widget.resize(1300, 700)
    widget.show()
    assert "model" not in widget.shown_columns()
    widget.show_columns([*widget.shown_columns(), "model"])
    assert widget.view.horizontalHeader().sectionSize(COLUMN["model"]) >= widget.view.fontMetrics().horizontalAdvance(model)


# ------------------------------------------------------------------ evaluate on…

def test_the_evaluate_form_browses_for_its_data(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from cast_studio.pages.history_analysis import EvaluateDialog

    chosen = {"file": str(tmp_path / "pairs.csv"), "folder": str(tmp_path / "cad")}
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (chosen["file"], ""))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: chosen["folder"])
    dialog = EvaluateDialog([1, 2])
    qtbot.addWidget(dialog)
    data = dialog.form.editors["data"]
    qtbot.mouseClick(dialog.folder_button, Qt.MouseButton.LeftButton)
    assert data.text() == chosen["folder"] and dialog.config().data == chosen["folder"]
    qtbot.mouseClick(dialog.file_button, Qt.MouseButton.LeftButton)
    assert data.text() == chosen["file"] and dialog.config().data == chosen["file"]
    chosen["file"] = str(tmp_path / "revisions.csv")
    qtbot.mouseClick(dialog.revision_button, Qt.MouseButton.LeftButton)
    assert dialog.config().revision_file == chosen["file"]
    chosen["folder"] = ""  # cancelled: the field keeps its path
    qtbot.mouseClick(dialog.folder_button, Qt.MouseButton.LeftButton)
    assert data.text() == str(tmp_path / "pairs.csv")


# ------------------------------------------------------------------ seeds grouped

def group_cell(page, row, key):
    from cast_studio.pages.history_groups import GROUP_COLUMN

    return page.groups.index(row, GROUP_COLUMN[key]).data()


def test_group_seeds_shows_one_row_per_seed_group(page, filled_store, qtbot):
    from cast_studio.pages.history_groups import GROUP_COLUMN

    _, ids = filled_store
    page.resize(1300, 600)
    page.show()
    page.select_runs([ids["cast_a"][1]])
    qtbot.mouseClick(page.analysis.group_check, Qt.MouseButton.LeftButton)
    assert page.grouped and page.views.currentWidget() is page.group_view
    # the completed runs: cast α 0.05 (3 seeds), cast α 0.2 (2), full (3), lora (2), bitfit on NLI (1)
    assert page.groups.rowCount() == 5 and page.count_label.text() == "5 seed groups of 11 completed runs"
    row = page.groups.row_of(ids["cast_a"][0])
    mean, std = by_hand(CAST_A)
    assert group_cell(page, row, "combined") == f"{mean:.1f} ± {std:.1f}" == "85.2 ± 1.0"
    assert group_cell(page, row, "n") == "3" and group_cell(page, row, "alpha") == "0.05"
    assert group_cell(page, row, "method") == "cast" and group_cell(page, row, "variant") == "CAD"
    assert group_cell(page, page.groups.row_of(ids["nli"][0]), "combined") == "55.0"  # one seed: no ±
    assert page.selected_ids() == ids["cast_a"]  # the group of the selected run, all its seeds
    assert page.compare_button.isEnabled()
    page.group_view.sortByColumn(GROUP_COLUMN["combined"], Qt.SortOrder.DescendingOrder)
    assert [group_cell(page, r, "n") for r in range(5)] == ["3", "3", "2", "2", "1"]  # 85.2, 81.7, 81.2, 78.8, 55.0
    assert page.selected_ids() == ids["cast_a"]  # sorting keeps the selection
    page.method_filter.setCurrentText("full")
    assert page.groups.rowCount() == 1 and page.count_label.text() == "1 seed group of 3 completed runs"
    page.method_filter.setCurrentText("any")
    page.select_runs(ids["lora"][:1])
    qtbot.mouseClick(page.analysis.group_check, Qt.MouseButton.LeftButton)
    assert not page.grouped and page.views.currentWidget() is page.view
    assert page.model.rowCount() == 14 and page.count_label.text() == "14 runs"
    assert sorted(page.selected_ids()) == sorted(ids["lora"])  # the selected group's runs stay selected


def test_grouped_history_formats_only_the_rows_on_screen(qtbot, tmp_path):
    path = tmp_path / "big.sqlite"
    store = open_store(path)
    run_id = add_run(store, epochs=1)
    row = store.db.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    columns = [c[0] for c in store.db.conn.execute("SELECT * FROM runs").description]
    copies = [tuple(None if name == "id" else value for name, value in zip(columns, row)) for _ in range(2999)]
    with store.db.conn:
        store.db.conn.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * len(columns))})", copies)
        # 1,000 learning rates, three seeds each: 1,000 groups
        store.db.conn.execute("UPDATE runs SET config = json_set(config, '$.train.lr', 1e-6 * ((id - 1) / 3 + 1)), "
                              "seed = (id - 1) % 3 + 1")
    store.close()
    widget = HistoryPage(path)
    qtbot.addWidget(widget)
    widget.resize(1300, 700)
    widget.show()
    widget.set_grouped(True)
    qtbot.wait(10)
    assert widget.groups.rowCount() == 1000 and widget.count_label.text() == "1,000 seed groups of 3,000 completed runs"
    assert len(widget.groups._texts) <= widget.groups.BLOCK  # the rows on screen and those the widths were fitted to
    assert group_cell(widget, 0, "n") == "3" and group_cell(widget, 0, "runs") == "2998, 2999, 3000"
