"""Concurrency soak (issue 5): a CLI sweep writes to the store while the studio reads it and starts runs.

For ``--minutes`` it runs, against one SQLite file:

* ``cast sweep`` processes, one after another (each a new grid of ``--sweep-trials``
  seeds on a tiny random BERT, run to its end: every finished trial is one write
  transaction of its run, epochs, masks and predictions);
* a second CLI writer: ``cast run`` processes one after another (each writes its run,
  epoch by epoch, while it trains);
* the studio in this process, offscreen: the real MainWindow. A timer refreshes the
  History page every ``--refresh-ms`` (every run, then the runs, epochs, masks and
  predictions of the newest one; the Sweep page's list and heat map every fifth tick),
  and every ``--run-every`` seconds a tiny run is queued through the window's normal
  run path (``MainWindow.start_runs`` → ``RunQueue``), which writes from the studio's
  training thread while the GUI thread reads.

When the time is up nothing new is started; the processes and studio runs under way
finish. Everything that could report "database is locked" is watched: Python logging,
warnings, this process's stderr, exceptions in any thread and in Qt slots, Qt
messages, the studio's message boxes and error events, and every CLI process's
stdout and stderr. Then it checks that no row was lost: every run the studio queued,
every trial each sweep reported and every ``cast run`` is in the store, completed,
with one epochs row per epoch, one masks row per epoch for CAST, and its two
prediction rows; each sweep holds exactly the trials it reported; nothing else is in
the store; ``PRAGMA integrity_check`` is ok and ``PRAGMA foreign_key_check`` empty.
Prints a table of figures; exits 1 if any check fails.

    .venv/bin/python bench/concurrency_soak.py --minutes 5
    .venv/bin/python bench/concurrency_soak.py --minutes 0.5      # short mode
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

LOCKED = re.compile(r"database (?:table )?is locked|SQLITE_BUSY|database is busy", re.IGNORECASE)
SWEEP_DONE = re.compile(r"^\[\d+/\d+ done(?:, \d+ failed)?\] .*?: run (\d+): combined", re.MULTILINE)
SWEEP_BAD = re.compile(r"^\[\d+/\d+ done(?:, \d+ failed)?\] .*?: (failed|cancelled|interrupted|error)\b.*$",
                       re.MULTILINE)
SWEEP_END = re.compile(r"^sweep (\d+): (\w+); \d+ trials have a completed run", re.MULTILINE)
CLI_RUN = re.compile(r"^run (\d+): (\w+)", re.MULTILINE)
# Tiny runs with many short epochs: each epoch is a write (epoch row, mask row), a few a second per writer.
TRAIN = {"max_length": 48, "batch_size": 16, "lr": 1e-3, "device": "cpu", "patience": 1000}
EXAMPLES = 8  # train_limit and eval_limit


# ---------------------------------------------------------------- what went wrong

class Problems:
    """Every error seen anywhere (thread-safe); those that say the database was locked counted apart."""

    def __init__(self) -> None:
        self.locked: list[str] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def seen(self, source: str, text: str, *, error: bool) -> None:
        """``text`` from ``source``: always scanned for 'locked'; kept as an error when ``error``."""
        text = str(text)
        with self._lock:
            if LOCKED.search(text):
                self.locked.append(f"{source}: {_first_line_matching(text)}")
            if error:
                self.errors.append(f"{source}: {text.strip()[:400]}")

    def scan(self, source: str, text: str) -> None:
        """Output of a process: each 'locked' line and each traceback counts."""
        for line in text.splitlines():
            if LOCKED.search(line):
                self.seen(source, line, error=False)
        if "Traceback (most recent call last)" in text:
            self.seen(source, text[text.index("Traceback"):], error=True)


def _first_line_matching(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if LOCKED.search(line)), text)[:300]


class _LogHandler(logging.Handler):
    def __init__(self, problems: Problems):
        super().__init__(logging.DEBUG)
        self.problems = problems

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage() + ("\n" + logging.Formatter().formatException(record.exc_info)
                                      if record.exc_info else "")
        self.problems.seen(f"log {record.name}", text, error=record.levelno >= logging.ERROR)


class _TeeStream:
    """Passes writes through to the real stream and scans them."""

    def __init__(self, stream, problems: Problems, name: str):
        self._stream, self._problems, self._name = stream, problems, name

    def write(self, text: str) -> int:
        self._problems.scan(self._name, text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def watching(problems: Problems):
    """Install every hook that could see an error in this process; undo them afterwards."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QMessageBox

    handler = _LogHandler(problems)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(min(old_level, logging.WARNING) if old_level else logging.WARNING)
    old_showwarning = warnings.showwarning
    old_excepthook, old_thread_hook = sys.excepthook, threading.excepthook
    old_stderr = sys.stderr

    def showwarning(message, category, filename, lineno, file=None, line=None):
        problems.seen(f"warning {category.__name__}", f"{message} ({filename}:{lineno})",
                      error="run store" in str(message))
        old_showwarning(message, category, filename, lineno, file, line)

    def excepthook(kind, value, tb):
        import traceback

        problems.seen("uncaught exception (GUI thread / Qt slot)",
                      "".join(traceback.format_exception(kind, value, tb)), error=True)

    def thread_hook(args):
        import traceback

        problems.seen(f"uncaught exception in thread {args.thread.name if args.thread else '?'}",
                      "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)),
                      error=True)

    def qt_message(kind, _context, message):
        problems.seen(f"Qt {kind.name}", message, error=kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg))

    def message_box(kind, answer):
        def show(_parent, _title, text, *args, **kwargs):
            problems.seen(f"studio message box ({kind})", text, error=kind in ("warning", "critical"))
            return answer
        return staticmethod(show)

    boxes = {name: getattr(QMessageBox, name) for name in ("warning", "critical", "information", "question")}
    for name in boxes:
        setattr(QMessageBox, name, message_box(name, QMessageBox.StandardButton.No if name == "question"
                                               else QMessageBox.StandardButton.Ok))
    warnings.showwarning = showwarning
    sys.excepthook, threading.excepthook = excepthook, thread_hook
    sys.stderr = _TeeStream(old_stderr, problems, "studio process stderr")
    old_qt = qInstallMessageHandler(qt_message)
    try:
        yield
    finally:
        qInstallMessageHandler(old_qt)
        sys.stderr = old_stderr
        sys.excepthook, threading.excepthook = old_excepthook, old_thread_hook
        warnings.showwarning = old_showwarning
        for name, original in boxes.items():
            setattr(QMessageBox, name, original)
        root.removeHandler(handler)
        root.setLevel(old_level)


# ---------------------------------------------------------------- counting the studio's store calls

class StoreCalls:
    """Counts the studio's SELECTs and committed write transactions (its GuardedStore connections only)."""

    def __init__(self) -> None:
        self.reads = 0
        self.writes = 0
        self.max_write_ms = 0.0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def counting(self):
        from cast_engine.store.db import RunStore
        from cast_studio.store_access import GuardedStore

        read, write = RunStore._read, RunStore._write
        calls = self

        def counted_read(store, sql, params=()):
            rows = read(store, sql, params)
            with calls._lock:
                calls.reads += 1
            return rows

        @contextlib.contextmanager
        def counted_write(store):
            began = time.perf_counter()
            with write(store) as conn:  # BEGIN IMMEDIATE: waits here while another process writes
                yield conn
            took = 1000 * (time.perf_counter() - began)
            with calls._lock:
                calls.writes += 1
                calls.max_write_ms = max(calls.max_write_ms, took)

        GuardedStore._read, GuardedStore._write = counted_read, counted_write
        try:
            yield self
        finally:
            del GuardedStore._read, GuardedStore._write


# ---------------------------------------------------------------- the CLI writers

def cast_command() -> list[str]:
    """The ``cast`` console script beside this interpreter, else ``python -m cast_engine.cli``."""
    script = Path(sys.executable).with_name("cast")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cast_engine.cli"]


def train_args(epochs: int) -> list[str]:
    args = [f"--{name.replace('_', '-')}={value}" for name, value in TRAIN.items()]
    return [*args, f"--max-epochs={epochs}", "--data=demo", f"--train-limit={EXAMPLES}", f"--eval-limit={EXAMPLES}"]


def method_args(method: str) -> list[str]:
    return ["--method", method, *(["--k", "1%"] if method == "cast" else [])]


class CliLoop(threading.Thread):
    """CLI processes one after another until stopped; the one under way always finishes."""

    label = "cast"

    def __init__(self, store: Path, model: Path, env: dict, problems: Problems, workdir: Path, epochs: int):
        super().__init__(name=f"{self.label}-loop", daemon=True)
        self.store, self.model, self.env, self.problems, self.workdir = store, model, env, problems, workdir
        self.epochs = epochs
        self.stopping = threading.Event()
        self.outputs: list[tuple[int, str]] = []  # (exit code, stdout) of each process

    def command(self, index: int) -> list[str]:
        raise NotImplementedError

    def run(self) -> None:
        index = 0
        while not self.stopping.is_set():
            try:
                done = subprocess.run(self.command(index), capture_output=True, text=True, env=self.env, timeout=900)
            except subprocess.TimeoutExpired as exc:
                self.problems.seen(self.label, f"timed out: {exc}", error=True)
                break
            log = self.workdir / f"{self.label.replace(' ', '-')}-{index + 1}.log"
            log.write_text(f"{done.stdout}\n--- stderr ---\n{done.stderr}")
            self.problems.scan(f"{self.label} stdout", done.stdout)
            self.problems.scan(f"{self.label} stderr", done.stderr)
            if done.returncode != 0:
                self.problems.seen(self.label, f"exit {done.returncode} ({log}): {done.stderr[-600:]}", error=True)
            self.outputs.append((done.returncode, done.stdout))
            index += 1


class SweepLoop(CliLoop):
    """``cast sweep`` processes, each a new grid of ``trials`` seeds, run to its end."""

    label = "cast sweep"

    def __init__(self, *args, trials: int, workers: int):
        super().__init__(*args)
        self.trials, self.workers = trials, workers

    def command(self, index: int) -> list[str]:
        first = index * self.trials + 1
        return [*cast_command(), "--db", str(self.store), "sweep", "--model", str(self.model),
                *train_args(self.epochs), *method_args("cast"), f"--grid=seed={first}:{first + self.trials - 1}:1",
                "--workers", str(self.workers), "--sweep-name", f"soak-{index + 1}"]

    def sweeps(self) -> list[dict]:
        """Each process: its exit code, sweep id, final status and the run ids of the trials it reported."""
        found = []
        for code, out in self.outputs:
            end = SWEEP_END.search(out)
            found.append({"rc": code, "id": int(end.group(1)) if end else None, "status": end.group(2) if end else None,
                          "runs": [int(run_id) for run_id in SWEEP_DONE.findall(out)], "bad": SWEEP_BAD.findall(out)})
        return found

    def trials_done(self) -> int:
        return sum(len(SWEEP_DONE.findall(out)) for _, out in list(self.outputs))


class RunLoop(CliLoop):
    """``cast run`` processes (CAST and full fine-tuning in turn), each writing its run epoch by epoch."""

    label = "cast run"

    def command(self, index: int) -> list[str]:
        method = ("cast", "full")[index % 2]
        return [*cast_command(), "--db", str(self.store), "run", "--model", str(self.model), *train_args(self.epochs),
                *method_args(method), "--seed", str(100_000 + index)]

    def runs(self) -> list[tuple[int, str]]:
        return [(int(run_id), status) for _, out in self.outputs for run_id, status in CLI_RUN.findall(out)]


# ---------------------------------------------------------------- the soak

@dataclass
class SoakReport:
    figures: dict[str, object] = field(default_factory=dict)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return [f"{name}: {detail}" for name, ok, detail in self.checks if not ok]

    def table(self) -> str:
        width = max(len(name) for name in [*self.figures, *(c[0] for c in self.checks)])
        lines = ["figure".ljust(width) + "  value", "-" * (width + 30)]
        lines += [f"{name.ljust(width)}  {value}" for name, value in self.figures.items()]
        lines += ["", "check".ljust(width) + "  result", "-" * (width + 30)]
        lines += [f"{name.ljust(width)}  {'ok' if ok else 'FAILED'}" + (f"  ({detail})" if detail else "")
                  for name, ok, detail in self.checks]
        return "\n".join(lines)


def soak(minutes: float, *, workdir: Path, model_dir: Path | None = None, run_every_s: float = 25.0,
         refresh_ms: int = 700, epochs: int = 20, sweep_trials: int = 6, sweep_workers: int = 1,
         cli_runs: bool = True, verbose: bool = True) -> SoakReport:
    """Run the soak in ``workdir`` (the store, the model unless given, the CLIs' output); return its report."""
    from PySide6.QtWidgets import QApplication

    workdir.mkdir(parents=True, exist_ok=True)
    say = (lambda text: print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)) if verbose else (lambda text: None)
    if model_dir is None:
        from engine_fixtures import build_tiny_model

        model_dir = build_tiny_model(workdir / "tiny-bert")
    store = workdir / "runs.sqlite"
    caches = workdir / "caches"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
           "CAST_CACHE_DIR": os.environ.get("CAST_CACHE_DIR", str(caches / "cast")),
           "HF_DATASETS_CACHE": os.environ.get("HF_DATASETS_CACHE", str(caches / "hf"))}
    env.pop("CAST_DB", None)
    app = QApplication.instance() or QApplication([])
    problems, calls = Problems(), StoreCalls()
    writers = [SweepLoop(store, model_dir, env, problems, workdir, epochs, trials=sweep_trials, workers=sweep_workers)]
    if cli_runs:
        writers.append(RunLoop(store, model_dir, env, problems, workdir, epochs))
    saved_settings = os.environ.get("CAST_STUDIO_SETTINGS")
    os.environ["CAST_STUDIO_SETTINGS"] = str(workdir / "studio-settings.ini")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # three trainers (sweep, cast run, studio) share the cores
    say(f"store {store}; sweeps of {sweep_trials} trials ({sweep_workers} worker(s)); "
        f"{'cast run loop; ' if cli_runs else ''}studio run every {run_every_s:g} s; "
        f"History refresh every {refresh_ms} ms; runs of {epochs} epochs; {minutes:g} min")
    try:
        with watching(problems), calls.counting():
            state = _drive(app, minutes * 60, store, model_dir, epochs, writers, problems, run_every_s, refresh_ms, say)
    finally:
        torch.set_num_threads(threads)
        if saved_settings is None:
            os.environ.pop("CAST_STUDIO_SETTINGS", None)
        else:
            os.environ["CAST_STUDIO_SETTINGS"] = saved_settings
    report = SoakReport()
    _verify(report, store, state, writers, problems, calls)
    return report


@dataclass
class _State:
    soak_s: float = 0.0
    total_s: float = 0.0
    queued: list[str] = field(default_factory=list)  # methods, in order
    finished: list[tuple[int, str, str]] = field(default_factory=list)  # the studio's run_finished signals
    ticks: int = 0
    max_tick_ms: float = 0.0
    wind_down_timed_out: bool = False


def _drive(app, seconds, store, model_dir, epochs, writers, problems, run_every_s, refresh_ms, say) -> _State:
    """Start the writers and the studio; run the event loop for the soak and until every writer is done."""
    from PySide6.QtCore import QEventLoop, QTimer

    from cast_engine.config import DataConfig, RunConfig, TrainConfig
    from cast_engine.methods.registry import get_method
    from cast_engine.train.events import Message
    from cast_studio.main_window import MainWindow

    state = _State()
    for writer in writers:
        writer.start()
    started = time.perf_counter()
    window = MainWindow(store)
    window.show()
    page = window.history_page

    def on_finished(run_id, status, reason, _results):
        state.finished.append((run_id, status, reason))
        if status != "completed":
            problems.seen("studio run", f"run {run_id} {status}: {reason}", error=True)

    def on_event(event):
        if isinstance(event, Message) and event.level == "error":
            problems.seen("studio monitor", event.text, error=True)

    window.queue.run_finished.connect(on_finished)
    window.queue.event.connect(on_event)

    def enqueue():
        method = ("cast", "bitfit")[len(state.queued) % 2]
        config = RunConfig(data=DataConfig(data="demo", task="sentiment", train_limit=EXAMPLES, eval_limit=EXAMPLES),
                           train=TrainConfig(max_epochs=epochs, **TRAIN),
                           method=get_method(method).config_cls(**({"k": "1%"} if method == "cast" else {})),
                           model=str(model_dir), name=f"studio-soak-{len(state.queued) + 1}")
        state.queued.append(method)
        window.start_runs([config])

    def read_tick():
        tick_started = time.perf_counter()
        try:
            page.refresh()  # mark_interrupted + list_runs, as the Refresh button does
            ids = page.visible_ids()
            if ids:
                newest = max(ids)
                page.select_runs([newest])
                page.load_runs([newest])  # the run and its epochs, as Compare does
                page.store.masks(newest)
                page.store.predictions(newest)
            if state.ticks % 5 == 0:
                window.sweep_page.refresh_sweeps()  # the sweeps list and the shown sweep's heat map
        except Exception as exc:  # a read failed in the GUI thread
            import traceback

            problems.seen("studio read", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", error=True)
        state.ticks += 1
        state.max_tick_ms = max(state.max_tick_ms, 1000 * (time.perf_counter() - tick_started))

    loop = QEventLoop()
    reader, runner, ender, poller = QTimer(), QTimer(), QTimer(), QTimer()
    reader.setInterval(refresh_ms)
    reader.timeout.connect(read_tick)
    runner.setInterval(int(run_every_s * 1000))
    runner.timeout.connect(enqueue)
    ender.setSingleShot(True)
    ender.setInterval(int(seconds * 1000))
    poller.setInterval(500)
    wind_down_limit = 600.0
    next_note = [started + 30]

    def poll():
        now = time.perf_counter()
        if now > next_note[0]:
            next_note[0] = now + 30
            say(f"{now - started:.0f} s: studio {len(state.finished)}/{len(state.queued)} runs, "
                f"{writers[0].trials_done()} sweep trials, {len(writers[-1].outputs)} {writers[-1].label} processes, "
                f"{state.ticks} refreshes, {len(problems.locked)} locked, {len(problems.errors)} errors")
        if state.soak_s == 0.0:  # the soak is still on
            return
        studio_done = not window.queue.is_running() and window.queue.waiting() == 0
        if studio_done and not any(writer.is_alive() for writer in writers):
            loop.quit()
        elif now - started - state.soak_s > wind_down_limit:
            state.wind_down_timed_out = True
            loop.quit()

    def end_soak():
        state.soak_s = time.perf_counter() - started
        runner.stop()
        for writer in writers:
            writer.stopping.set()
        say(f"soak time over ({state.soak_s:.0f} s): nothing new starts; waiting for the writers under way")

    ender.timeout.connect(end_soak)
    poller.timeout.connect(poll)
    for timer in (reader, runner, ender, poller):
        timer.start()
    enqueue()
    loop.exec()
    for timer in (reader, runner, poller):
        timer.stop()
    read_tick()  # one last read after every writer has finished
    if state.wind_down_timed_out:
        problems.seen("soak", f"writers still busy {wind_down_limit:.0f} s after the soak ended", error=True)
        window.queue.shutdown(30_000)
    state.total_s = time.perf_counter() - started
    window.close()
    for connection in (page.store, window.sweep_page._store):
        if connection is not None:
            connection.close()
    window.deleteLater()
    app.processEvents()
    return state


# ---------------------------------------------------------------- checking the store

def _verify(report: SoakReport, store: Path, state: _State, writers: list[CliLoop], problems: Problems,
            calls: StoreCalls) -> None:
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchall()
        fk_problems = db.execute("PRAGMA foreign_key_check").fetchall()
        runs = {row[0]: row for row in db.execute(
            "SELECT id, status, method, sweep_id, trial_key, json_extract(config, '$.train.max_epochs') FROM runs")}
        epochs = dict(db.execute("SELECT run_id, COUNT(DISTINCT epoch) FROM epochs GROUP BY run_id").fetchall())
        masks = dict(db.execute("SELECT run_id, COUNT(*) FROM masks GROUP BY run_id").fetchall())
        predictions = dict(db.execute("SELECT run_id, COUNT(*) FROM predictions GROUP BY run_id").fetchall())
        sweep_rows = dict(db.execute("SELECT id, status FROM sweeps").fetchall())
        counts = {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                  for table in ("runs", "epochs", "masks", "predictions", "sweeps")}
    finally:
        db.close()

    def whole(run_id: int) -> str:
        """'' when the run is in the store, completed, with all its rows; else what is wrong."""
        row = runs.get(run_id)
        if row is None:
            return f"run {run_id} missing"
        _, status, method, _, _, max_epochs = row
        wrong = []
        if status != "completed":
            wrong.append(f"status {status}")
        if epochs.get(run_id, 0) != max_epochs:
            wrong.append(f"{epochs.get(run_id, 0)} epochs of {max_epochs}")
        if method == "cast" and masks.get(run_id, 0) != max_epochs:
            wrong.append(f"{masks.get(run_id, 0)} masks of {max_epochs}")
        if predictions.get(run_id, 0) != 2:
            wrong.append(f"{predictions.get(run_id, 0)} prediction rows of 2")
        return f"run {run_id}: {', '.join(wrong)}" if wrong else ""

    def all_whole(ids) -> tuple[bool, str]:
        wrong = [w for w in (whole(i) for i in ids) if w]
        return not wrong, "; ".join(wrong[:5]) + (f" (+{len(wrong) - 5} more)" if len(wrong) > 5 else "")

    def check(name: str, ok: bool, detail: str = "") -> None:
        report.checks.append((name, bool(ok), detail))

    sweep_loop = writers[0]
    run_loop = writers[1] if len(writers) > 1 else None
    sweeps = sweep_loop.sweeps()
    sweep_ids = [run_id for sweep in sweeps for run_id in sweep["runs"]]
    cli = run_loop.runs() if run_loop is not None else []
    cli_ids = [run_id for run_id, _ in cli]
    studio_ids = [run_id for run_id, _, _ in state.finished if run_id >= 0]
    stray = set(runs) - set(studio_ids) - set(sweep_ids) - set(cli_ids)
    unfinished = sorted(rid for rid, row in runs.items() if row[1] != "completed")
    mismatched = []
    for sweep in sweeps:
        stored = sorted(rid for rid, row in runs.items() if sweep["id"] is not None and row[3] == sweep["id"])
        keys = [runs[rid][4] for rid in stored]
        if (sweep["rc"] != 0 or sweep["status"] != "completed" or sweep_rows.get(sweep["id"]) != "completed"
                or sweep["bad"] or sorted(sweep["runs"]) != stored or len(stored) != sweep_loop.trials
                or len(set(keys)) != len(keys)):
            mismatched.append(f"sweep {sweep['id']}: exit {sweep['rc']}, {sweep['status']}/{sweep_rows.get(sweep['id'])}, "
                              f"reported {len(sweep['runs'])}, stored {len(stored)}, {len(set(keys))} distinct trials")

    check("no 'database is locked' anywhere", not problems.locked,
          problems.locked and f"{len(problems.locked)}: " + "; ".join(line[:200] for line in problems.locked[:3]))
    check("no other error anywhere", not problems.errors,
          problems.errors and f"{len(problems.errors)}: " + " | ".join(e[:200] for e in problems.errors[:3]))
    check("writers ended within the wind-down", not state.wind_down_timed_out)
    completed = [run_id for run_id, status, _ in state.finished if status == "completed" and run_id >= 0]
    check("studio: every queued run completed", len(completed) == len(state.queued) >= 1,
          f"{len(completed)} of {len(state.queued)}")
    check("studio: every run whole in the store", *all_whole(studio_ids))
    check("sweeps: at least one completed", any(sweep["status"] == "completed" for sweep in sweeps),
          f"{sum(sweep['status'] == 'completed' for sweep in sweeps)} of {len(sweeps)}")
    check("sweeps: every reported trial whole in the store", *all_whole(sweep_ids))
    check("sweeps: each completed, holding exactly its reported trials", not mismatched, "; ".join(mismatched[:3]))
    if run_loop is not None:
        exits = [rc for rc, _ in run_loop.outputs]
        check("cast run: every process completed its run, whole in the store",
              bool(cli) and len(cli) == len(exits) and not any(exits) and all_whole(cli_ids)[0],
              f"{len(cli)} runs reported by {len(exits)} processes, exit codes {sorted(set(exits))}"
              + (f"; {all_whole(cli_ids)[1]}" if all_whole(cli_ids)[1] else ""))
    check("no stray or unfinished runs", not stray and not unfinished,
          f"stray {sorted(stray)[:5]}, not completed {unfinished[:5]}")
    check("studio read the store", calls.reads > 0 and state.ticks > 0, f"{calls.reads} SELECTs")
    check("PRAGMA integrity_check", integrity == [("ok",)], str(integrity[:3]))
    check("PRAGMA foreign_key_check", not fk_problems, str(fk_problems[:3]))

    report.figures.update({
        "soak duration": f"{state.soak_s:.0f} s (with start-up and wind-down {state.total_s:.0f} s)",
        "studio runs queued / completed": f"{len(state.queued)} / {sum(s == 'completed' for _, s, _ in state.finished)}",
        "sweep trials completed (CLI)": f"{len(sweep_ids)} in {len(sweeps)} sweeps of {sweep_loop.trials}",
        "cast run processes completed": sum(status == "completed" for _, status in cli),
        "studio History/Sweep refreshes": f"{state.ticks} (longest {state.max_tick_ms:.0f} ms)",
        "studio store reads (SELECTs)": calls.reads,
        "studio store writes (transactions)": f"{calls.writes} (longest {calls.max_write_ms:.0f} ms)",
        "'database is locked' seen": len(problems.locked),
        "other errors seen": len(problems.errors),
        "rows in store": ", ".join(f"{t} {n}" for t, n in counts.items()),
        "integrity_check / foreign_key_check": f"{integrity[0][0] if integrity else '?'} / "
                                               f"{len(fk_problems)} problems",
    })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the writers run together (default 5)")
    parser.add_argument("--run-every", type=float, default=25.0, help="seconds between studio runs (default 25)")
    parser.add_argument("--refresh-ms", type=int, default=700, help="History refresh interval (default 700 ms)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of every run and trial (default 20)")
    parser.add_argument("--sweep-trials", type=int, default=6, help="trials per cast sweep process (default 6)")
    parser.add_argument("--sweep-workers", type=int, default=1, help="cast sweep --workers (default 1 on 2 cores)")
    parser.add_argument("--no-cli-runs", action="store_true", help="no second CLI writer (cast run loop)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (store, CLI output)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="cast-soak-"))
    try:
        report = soak(args.minutes, workdir=workdir, run_every_s=args.run_every, refresh_ms=args.refresh_ms,
                      epochs=args.epochs, sweep_trials=args.sweep_trials, sweep_workers=args.sweep_workers,
                      cli_runs=not args.no_cli_runs)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"concurrency soak, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPU cores"
          + (f"; kept {workdir}" if args.keep else ""))
    print(report.table())
    if report.failures:
        print("\nFAILED:\n  " + "\n  ".join(report.failures))
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
