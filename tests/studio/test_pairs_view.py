"""The Pairs view, the flip ledger, "Evaluate on…" and the mask atlas, opened from History,
on real runs of the tiny model (demo sentiment data)."""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from engine_fixtures import build_tiny_model
from PySide6.QtCore import Qt

from cast_engine.runs.pairs import (
    BOTH_RIGHT,
    OUTCOMES,
    count_outcomes,
    flip_ledger,
    pair_rows,
)
from cast_engine.runs.pair_data import run_pair_data
from cast_engine.runs.evaluation_data import EvaluateConfig
from cast_engine.store import RunStore
from cast_studio.pages.data_preview import ADDED_STYLE, DIFF_HTML_ROLE, REMOVED_STYLE
from cast_studio.pages.history_page import COLUMN, HistoryPage
from cast_studio.pages.pairs_view import PairsModel
from cast_studio.worker import EvaluationJob


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Full fine-tuning (seeds 1, 2) and CAST (seed 1) on the demo sentiment data; run 1 evaluated on its test split."""
    from cast_engine.config import DataConfig, RunConfig, TrainConfig
    from cast_engine.runs.evaluate import evaluate_run
    from cast_engine.methods.registry import get_method
    from cast_engine.runs.runner import run

    root = tmp_path_factory.mktemp("studio-pairs")
    model = build_tiny_model(root / "tiny")
    db = root / "runs.sqlite"
    ids = []
    for method, options, seed in (("full", {}, 1), ("full", {}, 2), ("cast", {"alpha": 0.05, "k": "1%"}, 1)):
        config = RunConfig(data=DataConfig(data="demo", task="sentiment"),
                           train=TrainConfig(max_epochs=2, batch_size=16, max_length=48, device="cpu", lr=1e-3, seed=seed),
                           method=get_method(method).config_cls(**options), model=str(model))
        result = run(config, store=db)
        assert result.status == "completed", result.reason
        ids.append(result.run_id)
    with RunStore(db) as store:
        evaluate_run(store, ids[0], EvaluateConfig())
    return db, ids


@pytest.fixture
def db(trained, tmp_path):
    """A copy of the trained store (and its saved models) for one test."""
    source_db, _ = trained
    copy = tmp_path / "runs.sqlite"
    with sqlite3.connect(source_db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    shutil.copytree(source_db.parent / f"{source_db.name}.artifacts", tmp_path / "runs.sqlite.artifacts")
    return copy


@pytest.fixture
def page(qtbot, db):
    page = HistoryPage(db)
    qtbot.addWidget(page)
    page.resize(1300, 700)
    page.show()
    page.show_error = lambda text: pytest.fail(f"unexpected error: {text}")
    yield page
    page.analysis.shutdown()


def test_pairs_view_shows_counts_rows_and_highlighted_words(qtbot, page, db, trained):
    run_id = trained[1][0]
    with RunStore(db) as store:
        rows = pair_rows(run_pair_data(store, run_id))
        results = store.get_run(run_id)["results"]
    counts = count_outcomes(rows)
    page.select_runs([run_id])
    window = page.analysis.open_pairs(page.selected_ids())
    qtbot.waitUntil(lambda: window.loaded is not None or window.error is not None, timeout=60_000)
    assert window.error is None
    assert len(window.model.rows) == window.model.rowCount() == results["n_pairs"] == 19
    text = window.counts_label.text()
    for name in OUTCOMES:
        assert f"{name} <b>{counts.outcomes[name]}</b>" in text
    assert f"pair accuracy <b>{100 * results['pair']:.1f} %</b>" in text
    # pair 0 of the demo test split; its revision swaps a few words, highlighted as on the Data page
    first = window.model.index(0, PairsModel.REVISION)
    revision_html = first.data(DIFF_HTML_ROLE)
    original_html = window.model.index(0, PairsModel.ORIGINAL).data(DIFF_HTML_ROLE)
    assert ADDED_STYLE in revision_html and REMOVED_STYLE not in revision_html
    assert REMOVED_STYLE in original_html
    shown = window.model.row_at(0)
    assert shown.pair == 0 and str(rows[0].changed_words) == window.model.index(0, 8).data()
    assert window.model.index(0, PairsModel.REVISION).data() == rows[0].revision
    # filters: by outcome, by changed words
    window.outcome_combo.setCurrentText(BOTH_RIGHT)
    assert window.model.rowCount() == counts.outcomes[BOTH_RIGHT]
    window.outcome_combo.setCurrentText("all")
    window.min_spin.setValue(3)
    assert window.model.rowCount() == sum(1 for r in rows if r.changed_words >= 3)
    assert window.shown_label.text() == f"{window.model.rowCount()} of 19 shown"
    window.min_spin.setValue(0)
    window.view.selectRow(0)
    qtbot.waitUntil(lambda: "Original #" in window.detail.toHtml())  # filled just after the selection is drawn
    assert "Revision" in window.detail.toHtml()
    window.close()


def test_a_filter_paints_the_pairs_once(qtbot, page, trained):
    """The diff rows are the costliest cells of the studio; a filter painted them twice (see table_views).
    (A filter that shows or hides the scroll bar changes the rows' width: that one paints them again.)"""
    from test_page_switch import PaintCounter, assert_paints_once_after

    page.select_runs([trained[1][0]])
    window = page.analysis.open_pairs(page.selected_ids())
    qtbot.waitUntil(lambda: window.loaded is not None or window.error is not None, timeout=60_000)
    window.resize(1000, 700)
    window.show()
    qtbot.wait(50)
    counter = PaintCounter()
    viewport = window.view.viewport()
    viewport.installEventFilter(counter)
    paints, shown = [], []
    for words in (3, 0, 5, 0):  # at least 3 (5) changed words: more pairs than fit on screen all the same
        before = counter.paints[id(viewport)]
        window.min_spin.setValue(words)
        qtbot.wait(50)
        paints.append(counter.paints[id(viewport)] - before)
        shown.append(window.model.rowCount())
    assert window.view.verticalScrollBar().isVisible() and len(set(shown)) > 1, shown
    assert paints == [1, 1, 1, 1]
    # … in a turn of the event loop after the filter's own work and the repaint of what it shows
    window.shown_label.installEventFilter(counter)
    window.min_spin.setValue(3)
    assert_paints_once_after(counter, window.shown_label, viewport)
    window.close()


def test_loading_pairs_leaves_every_object_collectable(qtbot, page, trained):
    """The loader froze the collector's view of every object alive at each load, so none of them could be
    collected afterwards; the studio collects on the GUI thread only, so the loader's thread needs no freeze."""
    import gc

    page.select_runs([trained[1][0]])
    frozen = gc.get_freeze_count()
    window = page.analysis.open_pairs(page.selected_ids())
    qtbot.waitUntil(lambda: window.loaded is not None or window.error is not None, timeout=60_000)
    assert window.error is None and gc.get_freeze_count() == frozen
    window.close()


def test_pairs_on_an_evaluation_sort_by_confidence(qtbot, page, trained):
    run_id = trained[1][0]
    page.refresh()
    assert [page.analysis.eval_combo.itemText(i) for i in range(page.analysis.eval_combo.count())][1:] == ["test"]
    page.analysis.eval_combo.setCurrentText("test")
    window = page.analysis.open_pairs([run_id])
    qtbot.waitUntil(lambda: window.loaded is not None or window.error is not None, timeout=60_000)
    assert window.error is None
    window.view.sortByColumn(5, Qt.SortOrder.DescendingOrder)  # Confidence
    shown = [float(window.model.index(i, 5).data()) for i in range(window.model.rowCount())]
    assert shown == sorted(shown, reverse=True) and len(shown) == 19
    window.close()


def test_flip_ledger_of_two_runs_with_csv(qtbot, page, db, trained, tmp_path):
    a, b = trained[1][0], trained[1][2]
    with RunStore(db) as store:
        ledger = flip_ledger(run_pair_data(store, a), run_pair_data(store, b))
        counts_b = count_outcomes(pair_rows(run_pair_data(store, b)))
    window = page.analysis.open_pairs([a, b])
    qtbot.waitUntil(lambda: window.loaded is not None or window.error is not None, timeout=60_000)
    assert window.error is None
    assert "Flip ledger — A: run 1, B: run 3" in window.windowTitle()
    text = window.counts_label.text()
    assert f"A right and B wrong <b>{ledger.a_right_b_wrong}</b>, A wrong and B right <b>{ledger.a_wrong_b_right}</b>" in text
    assert f"B: both right <b>{counts_b.outcomes[BOTH_RIGHT]}</b>" in text
    assert f"followed the flip in <b>{counts_b.followed}</b> of {counts_b.flipped}" in text
    for name, count in ledger.categories.items():
        window.ledger_combo.setCurrentText(name)
        assert window.model.rowCount() == count
    window.ledger_combo.setCurrentText("all")
    written = window.export_csv(tmp_path / "ledger.csv")
    with written.open(newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == 19 and {r["ledger"] for r in exported} <= set(ledger.categories)
    window.close()


def test_evaluate_on_runs_in_the_background_and_the_columns_show_it(qtbot, page, trained, table_writer):
    rows = []
    for i in range(4):
        rows += [{"pair_id": i, "label": "Positive", "text": f"a lovely, moving film {i}"},
                 {"pair_id": i, "label": "Negative", "text": f"a dreary, tedious film {i}"}]
    path = table_writer("contrast.csv", rows)
    ids = trained[1][:2]
    job = page.analysis.start_evaluation(ids, EvaluateConfig(data=str(path)))
    assert not page.analysis.evaluate_button.isEnabled() and page.analysis.progress.isVisible()
    qtbot.waitUntil(lambda: page.analysis.job is None, timeout=120_000)
    assert page.analysis.names == ["contrast", "contrast"] and isinstance(job, EvaluationJob)
    assert page.analysis.evaluation() == "contrast"  # the columns switch to the new evaluation
    with RunStore(page.db_path) as store:
        expected = {e["run_id"]: e["results"]["combined"] for e in store.list_evaluations() if e["name"] == "contrast"}
    shown = {}
    for row in range(page.proxy.rowCount()):
        run_id = page.proxy.index(row, COLUMN["id"]).data()
        shown[int(run_id)] = page.proxy.index(row, COLUMN["combined"]).data()
    for run_id, combined in expected.items():
        assert shown[run_id] == f"{100 * combined:.1f}"
    assert shown[trained[1][2]] in ("–", "-", "")  # the CAST run has no evaluation 'contrast'


def test_mask_atlas_of_cast_and_a_run_without_a_mask(qtbot, page, db, trained):
    from cast_engine.sparse.mask_file import mask_atlas, run_mask

    full, cast = trained[1][0], trained[1][2]
    window = page.analysis.open_atlas([cast, full])
    qtbot.waitUntil(lambda: window.data is not None, timeout=60_000)
    with RunStore(db) as store:
        atlas = mask_atlas(run_mask(store, cast))
    shares = window.shares("kinds")[cast]
    kept, total = atlas["kinds"]["query"]
    assert shares["query"] == pytest.approx(100 * kept / total)
    assert f"run {full}" in window.note.text() and "has no saved mask" in window.note.text()
    assert window.jaccard_table.item(0, 0).text() == "1.000"
    window.close()


def test_seed_groups_show_mean_std_n_ci_and_open_the_group_ledger(qtbot, page, db, trained):
    from cast_engine.evaluate.significance import compare_runs

    full1, full2, cast = trained[1]
    page.select_runs([full1, full2, cast])
    dialog = page.analysis.open_seed_groups(page.selected_ids())
    with qtbot.waitSignal(dialog.compared, timeout=60_000):
        pass
    assert len(dialog.groups) == 2
    with RunStore(db) as store:
        runs = {i: store.get_run(i) for i in (full1, full2, cast)}
        expected = compare_runs(store, [runs[full1], runs[full2]], [runs[cast]], shared_seeds_only=True)
    full_label = next(label for label in dialog.labels if label.startswith("full"))
    values = [100 * runs[i]["results"]["combined"] for i in (full1, full2)]
    import statistics

    assert dialog.result_text(full_label) == f"{statistics.fmean(values):.1f} ± {statistics.stdev(values):.1f} (n=2)"
    dialog.a_combo.setCurrentText(full_label)
    dialog.b_combo.setCurrentText(next(label for label in dialog.labels if label.startswith("cast")))
    qtbot.waitUntil(lambda: dialog.comparison is not None and dialog.comparison.n_pairs_of_runs == 1, timeout=60_000)
    assert (dialog.comparison.b, dialog.comparison.c) == (expected.b, expected.c)
    text = dialog.compare_label.text()
    assert f"p = {expected.p_value:.3g}" in text and "paired bootstrap 95 % CI" in text
    line, curve = dialog.curves[full_label]
    assert curve.n[0] == 2 and "mean with band ±1 std" in line.name()
    dialog.ledger_button.click()
    ledger = page.analysis.windows[-1]
    qtbot.waitUntil(lambda: ledger.loaded is not None or ledger.error is not None, timeout=60_000)
    assert ledger.error is None and "seed group" in ledger.windowTitle()
    assert ledger.model.rowCount() == 19


def test_a_long_review_shows_a_window_around_its_first_change():
    from cast_engine.data.diff import word_diff
    from cast_studio.pages.pairs_view import PREVIEW_CHARS, preview_segments

    before = " ".join(f"word{i}" for i in range(120))
    after = " ".join(f"tail{i}" for i in range(120))
    segments = word_diff(f"{before} brilliant {after}", f"{before} dreadful {after}")
    for side, changed in (("factual", "brilliant"), ("revision", "dreadful")):
        shown = preview_segments(segments, side)
        text = "".join(t for _, t in shown)
        assert text.startswith("… ") and text.endswith(" …") and changed in text
        assert len(text) <= PREVIEW_CHARS + 4
        assert any(op != "same" and t.strip() == changed for op, t in shown)  # still highlighted
    short = word_diff("a good film", "a bad film")
    assert preview_segments(short, "revision") == [(op, t) for op, t in short if op != "removed"]


def test_evaluate_on_is_a_job_on_the_main_windows_queue_and_stop_cancels_it(qtbot, window, trained, table_writer,
                                                                            monkeypatch):
    """In the main window an evaluation waits behind the queue's job in progress; Stop takes it off the queue."""
    import threading

    page = window.history_page
    page.show_error = lambda text: pytest.fail(f"unexpected error: {text}")
    assert page.analysis.queue is window.queue
    gate, original = threading.Event(), window.queue._run_one
    blocker = EvaluationJob([], EvaluateConfig())

    def held(item):
        if item is blocker:
            gate.wait(30)  # the job in progress
            return
        original(item)

    monkeypatch.setattr(window.queue, "_run_one", held)
    window.queue.submit([blocker])
    path = table_writer("few.csv", [{"pair_id": 1, "label": "Positive", "text": "good"},
                                    {"pair_id": 1, "label": "Negative", "text": "bad"}])
    job = page.analysis.start_evaluation([1], EvaluateConfig(data=str(path)))
    assert window.queue.is_pending(job) and "queued after the job in progress" in page.analysis.status_label.text()
    page.analysis.stop()
    assert not window.queue.is_pending(job) and page.analysis.job is None
    assert "stopped" in page.analysis.status_label.text()
    gate.set()
    assert window.queue.wait(30_000)
    with RunStore(page.db_path) as store:
        assert store.list_evaluations() == []
