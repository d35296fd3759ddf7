"""History at scale: stores of 1,000 and 100,000 runs × 100 epochs, opened and filtered in the
studio and listed by `cast runs`, each against raw SQLite fetching the same rows.

For each size a store is generated with SQL straight into the store's schema
(realistic rows: a real run config, results, versions and data hashes per run;
epoch rows with the metrics a CAST run writes), then, in the same process
(median of ``--repeats``):

- reference: plain ``sqlite3`` fetching every row History lists with the
  columns its table shows (the same SQL expressions), newest first; the same
  with ``WHERE method = 'cast'``; ``SELECT *`` of all runs is printed too;
- studio open: building the History page on the store, showing it and letting
  it paint (what switching to History costs the first time); refresh: the
  page asking the store again (what every later visit costs);
- studio filter: choosing "cast" in the method filter, painting; then "any";
- studio sort by combined accuracy (reported, no goal);
- `cast runs` (in process, output discarded): the first page (50 runs), against
  raw SQLite counting the runs and fetching the same 50 rows and columns;
- the store file's size per run × epoch.

Goals (issue 17): open and filter ≤ 3× the reference, `cast runs` likewise,
open at 100,000 runs ≤ 20× open at 1,000, size per run × epoch flat.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/history_load.py [--runs 1000 100000] [--epochs 100]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

METHODS = ("full", "cast", "bitfit", "adapters", "lora", "lt_sft")
VARIANTS = ("RAW", "RP1", "RP2", "RH1", "RH2")
#: The columns History's table shows by default, as SQL (the same expressions its model uses).
TABLE_COLUMNS = ("id, name, status, method, task, variant, regime, seed, json_extract(config, '$.method.alpha'), "
                 "json_extract(config, '$.method.k'), json_extract(config, '$.train.lr'), "
                 "json_extract(config, '$.data.data'), json_extract(results, '$.combined'), "
                 "json_extract(results, '$.factual'), json_extract(results, '$.counterfactual'), "
                 "json_extract(results, '$.pair'), trainable_params, total_params, started_at, reason")
CLI_COLUMNS = ("id, status, method, task, variant, regime, seed, json_extract(results, '$.combined'), started_at")


def _config(method: str, seed: int, rng: random.Random) -> dict:
    """A run config as the engine stores it (RunConfig.to_dict's layout)."""
    extra = {"cast": {"alpha": rng.choice((0.01, 0.05, 0.1, 0.2)), "k": rng.choice(("1%", "5%", "9.1%")),
                      "eligible": "all", "mask_scope": "global", "mask_criterion": "disagreement",
                      "schedule": "per_epoch", "optimizer_after_merge": "factual", "refine_epochs": 0},
             "lora": {"rank": 8, "target_share": 0.01, "lora_alpha": 16.0, "dropout": 0.1,
                      "target_modules": "query,value"},
             "lt_sft": {"k": "1%", "phase_epochs": 0, "freeze_layernorm": True},
             "adapters": {"reduction_factor": 16.0, "target_share": 0.01, "non_linearity": "relu"}}.get(method, {})
    return {"model": "minilm", "regime": "cad", "name": "",
            "data": {"data": "/home/lab/data/cad", "task": "nli", "variant": "RH1", "revision_file": "",
                     "text_columns": "", "label_column": "", "pair_column": "", "train_limit": 0, "eval_limit": 0},
            "train": {"optimizer": "adamw", "lr": rng.choice((1e-5, 2e-5, 5e-5)), "weight_decay": 0.0,
                      "warmup_ratio": 0.0, "batch_size": 32, "eval_batch_size": 128, "max_length": 128,
                      "max_epochs": 100, "patience": 10, "min_delta": 0.001, "restore_best": True,
                      "grad_clip": 1.0, "device": "auto", "group_by_length": True, "bf16": False,
                      "compile": False, "host_snapshots": False, "checkpoint": True, "log_every": 10, "seed": seed},
            "method": {"name": method, **extra}}


def build_store(path: Path, runs: int, epochs: int, seed: int = 0) -> float:
    """Generate ``runs`` × ``epochs`` in the store's schema with SQL; return the seconds it took."""
    from cast_engine.store import RunStore

    start = time.perf_counter()
    RunStore(path).close()  # the schema, through the store's migrations
    rng = random.Random(seed)
    versions = json.dumps({"cast_engine": "0.1.0", "python": "3.12.3", "torch": "2.13.0", "transformers": "4.57.6"})
    hashes = json.dumps({"train": "9f" * 16, "dev": "a1" * 16, "test": "c3" * 16})
    begin = datetime(2025, 1, 1, tzinfo=timezone.utc)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")

    def run_rows():
        for i in range(runs):
            method, run_seed = METHODS[i % len(METHODS)], i % 5 + 1
            started = (begin + timedelta(minutes=10 * i)).isoformat(timespec="microseconds")
            status = "failed" if i % 7 == 0 else "completed"
            combined = rng.uniform(0.6, 0.9)
            results = None if status == "failed" else json.dumps(
                {"combined": combined, "factual": combined + 0.02, "counterfactual": combined - 0.02,
                 "pair": combined - 0.15, "n_factual": 488, "n_counterfactual": 488, "n_pairs": 488,
                 "epochs_completed": epochs, "method_info": {}})
            yield (f"{method}-nli-{VARIANTS[i % 5]}-cad-seed{run_seed}", status,
                   "training diverged" if status == "failed" else None, started, started, started, method,
                   "nli" if i % 2 else "sentiment", VARIANTS[i % 5], "cad", "minilm", run_seed,
                   json.dumps(_config(method, run_seed, rng), sort_keys=True), 2_000_000, 22_714_371, versions,
                   hashes, results, epochs, 3600.0, 1, "bench-host")

    with conn:
        conn.executemany(
            "INSERT INTO runs (name, status, reason, created_at, started_at, finished_at, method, task, variant, "
            "regime, model, seed, config, trainable_params, total_params, versions, data_hashes, results, "
            "best_epoch, wall_time_s, pid, host) VALUES (" + ", ".join("?" * 22) + ")", run_rows())

    def epoch_rows():
        metrics = json.dumps({"val_n_counterfactual": 488, "val_n_factual": 488, "val_n_pairs": 488})
        for run_id in range(1, runs + 1):
            for epoch in range(1, epochs + 1):
                yield (run_id, epoch, "cast", 1.0 / epoch, 5e-5 * (1 - epoch / epochs), 30.0 * epoch,
                       0.7 + epoch / 1000, 0.66 + epoch / 1000, 0.68 + epoch / 1000, 0.5 + epoch / 1000, metrics)

    with conn:
        conn.executemany("INSERT INTO epochs (run_id, epoch, stage, train_loss, lr, elapsed_s, val_factual, "
                         "val_counterfactual, val_combined, val_pair, metrics) VALUES (" + ", ".join("?" * 11) + ")",
                         epoch_rows())
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - start


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def raw(path: Path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return len(db.execute(sql).fetchall())


def measure(app, path: Path, runs: int, epochs: int, repeats: int) -> dict:
    """Every figure for one store."""
    from cast_engine.cli import main as cast
    from cast_studio.pages.history_page import HistoryPage

    expected_cast = sum(1 for i in range(runs) if i % len(METHODS) == 1)
    figures = {"size_per_run_epoch": path.stat().st_size / (runs * epochs)}
    figures["raw_all"] = median_time(lambda: raw(path, "SELECT * FROM runs ORDER BY id DESC"), repeats)
    figures["raw_open"] = median_time(lambda: raw(path, f"SELECT {TABLE_COLUMNS} FROM runs ORDER BY id DESC"),
                                      repeats)
    figures["raw_filter"] = median_time(
        lambda: raw(path, f"SELECT {TABLE_COLUMNS} FROM runs WHERE method = 'cast' ORDER BY id DESC"), repeats)

    pages = []

    def painted(page) -> None:
        """Process events until ``page`` has painted: its table paints in a turn after the rest of the page."""
        app.processEvents()
        stagger = getattr(page, "stagger", None)
        while stagger is not None and stagger.held():
            app.processEvents()
        app.processEvents()

    def studio_open():
        page = HistoryPage(path)
        page.resize(1300, 800)
        page.show()
        painted(page)
        pages.append(page)

    studio_open()  # warm-up: imports, first paint
    figures["first_open"] = median_time(studio_open, repeats)
    page = pages.pop()
    for other in pages:
        other.close()
        other.deleteLater()
    app.processEvents()
    assert page.proxy.rowCount() == runs, page.proxy.rowCount()

    def on_screen():
        """The texts of every cell on screen, as painting asks for them (fetched and formatted here)."""
        view = page.view
        first = max(view.rowAt(0), 0)
        last = view.rowAt(view.viewport().height() - 1)
        last = page.model.rowCount() - 1 if last < 0 else last
        texts = getattr(page.model, "texts", None)  # a model that prepares every row on loading has none
        return [texts(row) for row in range(first, last + 1)] if texts else [None] * (last - first + 1)

    def refresh():
        page.refresh()
        assert len(on_screen()) > 20

    def refresh_painted():
        page.refresh()
        painted(page)

    def repaint():
        page.view.viewport().repaint()

    figures["open"] = median_time(refresh, repeats)
    figures["open_painted"] = median_time(refresh_painted, repeats)
    figures["paint"] = median_time(repaint, repeats)

    def choose(text, paint):
        combo = page.method_filter
        combo.setCurrentIndex(combo.findText(text))
        if paint:
            painted(page)
        else:
            on_screen()

    def studio_filter(paint=False):
        choose("cast", paint)
        assert page.proxy.rowCount() == expected_cast, page.proxy.rowCount()
        choose("any", paint)

    figures["filter"] = median_time(studio_filter, repeats) / 2  # filter on, then off
    figures["filter_painted"] = median_time(lambda: studio_filter(True), repeats) / 2

    def studio_sort():
        from cast_studio.pages.history_page import COLUMN
        from PySide6.QtCore import Qt

        page.view.sortByColumn(COLUMN["combined"], Qt.SortOrder.DescendingOrder)
        on_screen()
        page.view.sortByColumn(COLUMN["id"], Qt.SortOrder.DescendingOrder)
        on_screen()

    figures["sort"] = median_time(studio_sort, repeats) / 2
    page.close()
    page.deleteLater()
    app.processEvents()

    from cast_engine.cli import build_parser, cmd_runs

    args = build_parser().parse_args(["--db", str(path), "runs"])

    def cli_page():
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert cmd_runs(args) == 0
        assert len(out.getvalue().splitlines()) >= min(runs, 50) + 1

    def cli_whole():
        with contextlib.redirect_stdout(io.StringIO()):
            assert cast(["--db", str(path), "runs"]) == 0

    def raw_page():
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("SELECT count(*) FROM runs").fetchone()
            db.execute(f"SELECT {CLI_COLUMNS} FROM runs ORDER BY id DESC LIMIT 50").fetchall()

    figures["cli"] = median_time(cli_page, repeats)
    figures["cli_whole"] = median_time(cli_whole, repeats)
    figures["raw_cli"] = median_time(raw_page, repeats)
    return figures


def report(runs: int, epochs: int, f: dict) -> None:
    ms = {key: 1000 * value for key, value in f.items() if key != "size_per_run_epoch"}
    print(f"\n{runs:,} runs × {epochs} epochs: store {f['size_per_run_epoch']:.1f} bytes per run × epoch")
    print(f"  raw SQLite, the table's rows and columns: all {ms['raw_open']:.1f} ms, filtered (cast) "
          f"{ms['raw_filter']:.1f} ms; SELECT * of all runs {ms['raw_all']:.1f} ms")
    print(f"  History open (refresh, rows on screen fetched and formatted) {ms['open']:.1f} ms; filter "
          f"{ms['filter']:.1f} ms; sort by combined {ms['sort']:.1f} ms")
    print(f"  painted: open {ms['open_painted']:.1f} ms, filter {ms['filter_painted']:.1f} ms (a repaint of the "
          f"table alone {ms['paint']:.1f} ms); the page built, shown and painted {ms['first_open']:.1f} ms")
    print(f"  ratio open/raw {f['open'] / f['raw_open']:.2f}x, filter/raw {f['filter'] / f['raw_filter']:.2f}x "
          "(goal ≤ 3x)")
    print(f"  ratio painted: open/raw {f['open_painted'] / f['raw_open']:.2f}x, filter/raw "
          f"{f['filter_painted'] / f['raw_filter']:.2f}x; built page/raw {f['first_open'] / f['raw_open']:.2f}x")
    print(f"  cast runs (first page of 50): {ms['cli']:.1f} ms ({ms['cli_whole']:.1f} ms with argument parsing), "
          f"raw count + page {ms['raw_cli']:.2f} ms: ratio {f['cli'] / f['raw_cli']:.1f}x "
          f"({f['cli_whole'] / f['raw_cli']:.1f}x)")
    print(f"  cast runs / raw SQLite fetching every run's listed columns: "
          f"{f['cli'] / f['raw_open']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folder", default=None, help="where the stores go (default: a new temporary folder); "
                                                        "a store already there is reused")
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    folder = Path(args.folder or tempfile.mkdtemp(prefix="history-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    for runs in args.runs:
        path = folder / f"runs-{runs}x{args.epochs}.sqlite"
        if not path.exists():
            seconds = build_store(path, runs, args.epochs)
            print(f"store {path}: {runs:,} runs × {args.epochs} epochs generated in {seconds:.1f} s")
        results[runs] = measure(app, path, runs, args.epochs, args.repeats)
        report(runs, args.epochs, results[runs])
    if len(results) > 1:
        small, large = min(results), max(results)
        print(f"\nopen at {large:,} runs / at {small:,} runs: {results[large]['open'] / results[small]['open']:.1f}x, "
              f"painted {results[large]['open_painted'] / results[small]['open_painted']:.1f}x, built "
              f"{results[large]['first_open'] / results[small]['first_open']:.1f}x "
              f"(goal ≤ 20x); size per run × epoch {results[large]['size_per_run_epoch']:.1f} / "
              f"{results[small]['size_per_run_epoch']:.1f} bytes")


if __name__ == "__main__":
    main()
