"""The studio's Data page: loading in the background, problems shown in place, preview, chart, download."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import html  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from cast_engine.config import DataConfig  # noqa: E402
from cast_engine.data import NLI_VARIANTS, SENTIMENT_VARIANTS, dataset_stats, load_cad  # noqa: E402
from cast_engine.data.download import upstream_files  # noqa: E402
from cast_studio.pages.data_page import DIFF_HTML_ROLE, DataPage, PairTableModel  # noqa: E402
from local_http import LocalServer  # noqa: E402

LOAD_TIMEOUT = 15000  # ms


@pytest.fixture
def page(qtbot):
    widget = DataPage()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    return widget


def load(qtbot, page, source, revision_file=""):
    """Load and wait for the page's answer; True when it loaded, False when it showed a problem."""
    result = []
    ok, failed = (lambda ds: result.append(True)), (lambda message: result.append(False))
    page.dataset_changed.connect(ok)
    page.load_failed.connect(failed)
    try:
        page.load_source(source, revision_file)
        qtbot.waitUntil(lambda: bool(result) and not page.is_busy(), timeout=LOAD_TIMEOUT)
    finally:
        page.dataset_changed.disconnect(ok)
        page.load_failed.disconnect(failed)
    return result[-1]


def wait_idle(qtbot, page):
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=LOAD_TIMEOUT)


def combo_items(combo):
    return [combo.itemText(i) for i in range(combo.count())]


def row_of(model: PairTableModel, column: int, start: str) -> int:
    for row in range(model.rowCount()):
        if model.index(row, column).data().startswith(start):
            return row
    raise AssertionError(f"no row whose column {column} starts with {start!r}")


# ------------------------------------------------------------------------------------ demo data


def test_demo_sentiment_then_nli(qtbot, page):
    assert page.dataset is None and page.problem_label.text() == ""
    with qtbot.waitSignal(page.dataset_changed, timeout=LOAD_TIMEOUT) as blocker:
        page.load_source("demo")
    assert page.is_busy() is False
    ds = blocker.args[0]
    assert ds is page.dataset and (ds.task, ds.variant) == ("sentiment", "CAD")
    assert combo_items(page.variant_combo) == list(SENTIMENT_VARIANTS)
    assert "train 92 + 92 (92 pairs)" in page.summary_label.text()
    assert page.label_pair_counts == {"Negative-Positive": 92}
    assert page.preview_model.rowCount() == 92
    assert page.problem_label.text() == ""

    with qtbot.waitSignal(page.dataset_changed, timeout=LOAD_TIMEOUT):
        page.task_combo.setCurrentIndex(page.task_combo.findData("nli"))
    assert (page.dataset.task, page.dataset.variant) == ("nli", "RH1")
    assert combo_items(page.variant_combo) == list(NLI_VARIANTS)
    assert page.variant_combo.currentText() == "RH1"
    assert page.preview_model.rowCount() == len(page.dataset.train.pairs)
    assert page.data_config() == DataConfig(data="demo", task="nli", variant="RH1")

    with qtbot.waitSignal(page.dataset_changed, timeout=LOAD_TIMEOUT):
        page.variant_combo.setCurrentText("ALL")
    assert page.dataset.variant == "ALL"
    assert len(page.dataset.train.pairs) > len(load_cad("demo", "nli", "RH1").train.pairs)


def test_split_combo_switches_preview_and_chart(qtbot, page):
    with qtbot.waitSignal(page.dataset_changed, timeout=LOAD_TIMEOUT):
        page.load_source("demo")
    stats = dataset_stats(page.dataset)
    page.set_split("dev")
    assert page.preview_model.rowCount() == stats["splits"]["dev"]["pairs"]
    assert page.label_pair_counts == stats["splits"]["dev"]["label_pairs_unordered"]
    assert page.label_table.item(0, 0).text() == str(stats["splits"]["dev"]["factual_labels"]["Negative"])


# ------------------------------------------------------------------------------------ real data


def test_real_nli_rh1_folder(qtbot, page, cad_dir):
    with qtbot.waitSignal(page.dataset_changed, timeout=LOAD_TIMEOUT):
        page.set_data_config(DataConfig(data=str(cad_dir), task="nli", variant="RH1"))
    ds = page.dataset
    assert (ds.task, ds.variant) == ("nli", "RH1")
    summary = page.summary_label.text()
    for text in ("train 1666 + 1666 (1666 pairs)", "dev 200 + 200 (200 pairs)", "test 400 + 400 (400 pairs)", "0 unconfirmed"):
        assert text in summary
    stats = dataset_stats(ds)["splits"]
    for split in ("train", "test"):
        page.set_split(split)
        expected = stats[split]["label_pairs_unordered"]
        assert page.label_pair_counts == expected
        assert list(page.label_pair_bars.opts["height"]) == list(expected.values())
        assert sum(page.label_pair_bars.opts["height"]) == stats[split]["pairs"]
    assert list(page.label_pair_counts) == ["entailment-neutral", "neutral-contradiction", "contradiction-entailment"]
    assert page.data_config() == DataConfig(data=str(cad_dir), task="nli", variant="RH1")
    first = page.preview_model.index(0, PairTableModel.FACTUAL_TEXT).data()
    assert " ‖ " in first


# ------------------------------------------------------------------------------------ preview


def test_preview_highlights_changed_words(qtbot, page):
    with qtbot.waitSignal(page.dataset_changed, timeout=LOAD_TIMEOUT):
        page.load_source("demo")
    model, delegate = page.preview_model, page.preview_delegate
    row = row_of(model, PairTableModel.FACTUAL_TEXT, "A gripping heist thriller")
    factual_html = delegate.html(model.index(row, PairTableModel.FACTUAL_TEXT))
    revision_html = delegate.html(model.index(row, PairTableModel.REVISION_TEXT))
    assert "line-through" in factual_html and ">gripping</span>" in factual_html
    assert "font-weight:bold" in revision_html and ">tedious</span>" in revision_html
    assert ">heist thriller" not in factual_html.split("gripping")[0]  # unchanged words are not highlighted
    assert "tedious" not in factual_html and "gripping" not in revision_html
    assert model.index(row, 1).data() == "Positive" and model.index(row, 2).data() == "Negative"
    full = model.index(row, PairTableModel.FACTUAL_TEXT).data()
    tooltip = model.index(row, PairTableModel.FACTUAL_TEXT).data(Qt.ItemDataRole.ToolTipRole)
    assert all(word in html.unescape(tooltip) for word in full.split()[-4:])
    assert model.index(row, 0).data(DIFF_HTML_ROLE) is None  # the pair column is plain text

    page.show()
    qtbot.waitExposed(page)
    image = page.preview.viewport().grab().toImage()  # the delegate paints without errors
    assert not image.isNull()


def test_preview_nli_shows_premise_and_hypothesis(qtbot, page):
    with qtbot.waitSignal(page.dataset_changed, timeout=LOAD_TIMEOUT):
        page.set_data_config(DataConfig(data="demo", task="nli"))
    model = page.preview_model
    pair = page.dataset.train.pairs[0]
    factual, revised = page.dataset.train.factual[pair[0]], page.dataset.train.counterfactual[pair[1]]
    assert model.index(0, PairTableModel.FACTUAL_TEXT).data() == f"{factual.text_a} ‖ {factual.text_b}"
    assert model.index(0, PairTableModel.REVISION_TEXT).data() == f"{revised.text_a} ‖ {revised.text_b}"
    assert "‖" in page.preview_delegate.html(model.index(0, PairTableModel.REVISION_TEXT))


# ------------------------------------------------------------------------------------ problems


def test_problems_are_shown_in_place(qtbot, page, tmp_path, table_writer):
    assert load(qtbot, page, "demo")
    shown = page.dataset
    changed = []
    page.dataset_changed.connect(changed.append)

    empty = tmp_path / "not-cad"
    empty.mkdir()
    assert not load(qtbot, page, str(empty))
    assert str(empty) in page.problem_label.text() and "not a CAD folder" in page.problem_label.text()
    assert page.problem_label.isVisibleTo(page)

    no_label = table_writer("no_label.csv", [{"text": "good film", "pair_id": "1"}, {"text": "bad film", "pair_id": "1"}])
    assert not load(qtbot, page, str(no_label))
    assert f"{no_label}, line 1" in page.problem_label.text() and "label" in page.problem_label.text()

    rows = [
        {"pair_id": "a", "role": "original", "label": "Positive", "text": "fine"},
        {"pair_id": "a", "role": "revised", "label": "Negative", "text": "not fine"},
        {"pair_id": "b", "role": "original", "label": "Sideways", "text": "odd"},
    ]
    bad_label = table_writer("bad_label.csv", rows)
    assert not load(qtbot, page, str(bad_label))
    assert f"{bad_label}, line 4" in page.problem_label.text() and "Sideways" in page.problem_label.text()

    assert page.dataset is shown and changed == []  # the old dataset stays shown
    assert page.label_pair_counts == {"Negative-Positive": 92}
    assert page.data_config().data == "demo"

    assert load(qtbot, page, "demo")
    assert page.problem_label.text() == "" and not page.problem_label.isVisibleTo(page)


def test_bad_variant_of_a_user_file_is_a_problem(qtbot, page, table_writer):
    rows = []
    for i in range(4):
        rows.append({"pair_id": str(i), "label": "entailment", "premise": f"p{i}", "hypothesis": f"h{i}"})
        rows.append({"pair_id": str(i), "label": "neutral", "premise": f"p{i}", "hypothesis": f"x{i}"})
    path = table_writer("nli.csv", rows)
    with qtbot.waitSignal(page.load_failed, timeout=LOAD_TIMEOUT) as blocker:
        page.set_data_config(DataConfig(data=str(path), task="nli", variant="RP1"))
    assert "role" in blocker.args[0] and str(path) in page.problem_label.text()
    assert page.dataset is None
    wait_idle(qtbot, page)


def test_new_source_gets_its_default_variant(qtbot, page, table_writer):
    rows = []
    for i in range(4):
        rows.append({"pair_id": str(i), "label": "entailment", "premise": f"p{i}", "hypothesis": f"h{i}"})
        rows.append({"pair_id": str(i), "label": "neutral", "premise": f"p{i}", "hypothesis": f"x{i}"})
    path = table_writer("nli.csv", rows)
    with qtbot.waitSignal(page.dataset_changed, timeout=LOAD_TIMEOUT):
        page.set_data_config(DataConfig(data="demo", task="nli"))
    assert page.variant_combo.currentText() == "RH1"
    assert load(qtbot, page, str(path))  # no role column: the loader's default for it is ALL
    assert page.dataset.variant == "ALL" and page.variant_combo.currentText() == "ALL"


def test_aligned_files(qtbot, page, table_writer):
    originals = table_writer("orig.csv", [{"text": f"good film {i}", "label": "Positive"} for i in range(10)])
    revisions = table_writer("rev.csv", [{"text": f"bad film {i}", "label": "Negative"} for i in range(10)])
    assert load(qtbot, page, str(originals), str(revisions))
    assert page.data_config().revision_file == str(revisions)
    assert sum(page.stats["splits"][s]["pairs"] for s in ("train", "dev", "test")) == 10


def test_newer_load_supersedes_older(qtbot, page, cad_dir):
    page.set_data_config(DataConfig(data=str(cad_dir), task="nli"))
    with qtbot.waitSignal(page.dataset_changed, timeout=LOAD_TIMEOUT) as blocker:
        page.load_source("demo")
    wait_idle(qtbot, page)
    assert blocker.args[0].source.startswith("demo") and page.dataset.source.startswith("demo")


# ------------------------------------------------------------------------------------ download


@pytest.fixture
def serve(cad_dir, monkeypatch):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # the server is local
    servers = []

    def start(delay: float = 0.0) -> LocalServer:
        server = LocalServer(cad_dir, delay)
        monkeypatch.setenv("CAST_CAD_URL", server.url)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_download_progress_then_load(qtbot, page, serve, tmp_path):
    server = serve()
    values = []
    page.download_bar.valueChanged.connect(values.append)
    cache = tmp_path / "cache"
    with qtbot.waitSignal(page.dataset_changed, timeout=30000):
        page.start_download(cache)
        assert page.is_busy() and page.cancel_button.isVisibleTo(page)
    wait_idle(qtbot, page)
    total = len(upstream_files())
    assert page.download_bar.maximum() == total and values[-1] == total  # 100 %
    assert all((cache / name).is_file() for name in upstream_files())
    assert page.dataset.source.startswith("Kaushik et al. CAD") and page.dataset.task == "sentiment"
    assert "train 1707 + 1707" in page.summary_label.text()
    assert page.data_config().data == str(cache)
    assert not page.cancel_button.isVisibleTo(page) and page.problem_label.text() == ""

    server.requests.clear()
    with qtbot.waitSignal(page.dataset_changed, timeout=LOAD_TIMEOUT):
        page.start_download(cache)  # cached: nothing is fetched again
    wait_idle(qtbot, page)
    assert server.requests == []


def test_download_cancel(qtbot, page, serve, tmp_path):
    serve(delay=0.15)
    changed = []
    page.dataset_changed.connect(changed.append)
    cache = tmp_path / "cache"

    def cancel_after_first(done, total, name):
        if done == 1:
            page.cancel_download()

    page.download_bar.valueChanged.connect(lambda value: cancel_after_first(value, 0, ""))
    page.start_download(cache)
    wait_idle(qtbot, page)
    fetched = [name for name in upstream_files() if (cache / name).is_file()]
    assert 1 <= len(fetched) < len(upstream_files())
    assert "cancelled" in page.download_status.text().lower()
    assert changed == [] and page.dataset is None and page.problem_label.text() == ""
    assert page.source_buttons["Download CAD…"].isEnabled()


def test_download_failure_is_a_problem(qtbot, page, monkeypatch, tmp_path):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    server = LocalServer(tmp_path / "empty-root")  # serves nothing: every file is a 404
    (tmp_path / "empty-root").mkdir()
    monkeypatch.setenv("CAST_CAD_URL", server.url)
    try:
        with qtbot.waitSignal(page.load_failed, timeout=30000) as blocker:
            page.start_download(tmp_path / "cache")
        wait_idle(qtbot, page)
    finally:
        server.close()
    assert "download failed" in blocker.args[0] and server.url in page.problem_label.text()


# ------------------------------------------------------------------------------------ details


def test_column_overrides_reload(qtbot, page, table_writer):
    rows = []
    for i in range(4):
        rows.append({"pid": str(i), "role": "original", "stars": "pos", "review": f"a fine film {i}"})
        rows.append({"pid": str(i), "role": "revised", "stars": "neg", "review": f"a dull film {i}"})
    path = table_writer("reviews.csv", rows)
    assert not load(qtbot, page, str(path))
    assert str(path) in page.problem_label.text()
    for name, value in {"text_columns": "review", "label_column": "stars", "pair_column": "pid"}.items():
        page.column_edits[name].setText(value)
    with qtbot.waitSignal(page.dataset_changed, timeout=LOAD_TIMEOUT):
        page.column_edits["pair_column"].editingFinished.emit()
    wait_idle(qtbot, page)
    assert page.dataset.source.endswith("reviews.csv") and page.problem_label.text() == ""
    cfg = page.data_config()
    assert (cfg.data, cfg.text_columns, cfg.label_column, cfg.pair_column) == (str(path), "review", "stars", "pid")


def test_long_texts_are_elided_to_a_few_lines(qtbot):
    from PySide6.QtGui import QTextDocument

    from cast_studio.pages.data_page import PREVIEW_LINES, visible_lines

    doc = QTextDocument()
    doc.setPlainText("word " * 400)
    doc.setTextWidth(200)
    spacing = doc.documentLayout().blockBoundingRect(doc.begin()).height() / doc.begin().layout().lineCount()
    cut = visible_lines(doc, PREVIEW_LINES * spacing + 1)
    assert cut.elided and cut.bottom <= PREVIEW_LINES * spacing + 1
    doc.setPlainText("short")
    assert not visible_lines(doc, PREVIEW_LINES * spacing).elided


def test_page_module_imports_no_torch():
    import subprocess
    import sys

    code = "import cast_studio.pages.data_page, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2], env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.stdout.strip() == "False", out.stderr


def test_a_newer_choice_stops_the_load_it_replaced(qtbot, page, tmp_path, monkeypatch):
    """A big file chosen, then the demo: the big file's reading stops instead of running to the end."""
    from bench_scripts import load_bench_script
    from cast_studio.pages import data_loading

    big = load_bench_script("read_memory").write_csv(tmp_path / "big.csv", 30_000_000)
    outcomes = {}
    real = data_loading.load_data

    def recording(cfg, cache_dir=None):
        try:
            dataset = real(cfg, cache_dir)
        except Exception as exc:
            outcomes[cfg.data] = type(exc).__name__
            raise
        outcomes[cfg.data] = "loaded"
        return dataset

    monkeypatch.setattr(data_loading, "load_data", recording)
    page.load_source(str(big))
    assert load(qtbot, page, "demo")
    page._loader.wait(60000)
    assert outcomes == {str(big): "RunCancelled", "demo": "loaded"}
    assert page.dataset.source.startswith("demo data")
