"""The training process: the studio's jobs run one at a time in a child process.

Why a process and not a thread: Python threads share one interpreter lock. A
training thread loading a model, copying it for CAST's two passes or writing
a checkpoint held that lock for milliseconds at a time, and the window, which
gives the lock up and takes it back at every call into Qt, stalled for 100 ms
and more at each run's start (``bench/gui_stall.py``). In its own process,
training never holds the window's interpreter; and a crash in training (a
native library, the out-of-memory killer) ends that process, not the studio.

The process is started with ``spawn`` (as on macOS and Windows; forking a
process that runs Qt's threads is unsafe) when the studio opens or on the
first job, imports the engine once, and then serves job after job. One pipe carries:

- studio to trainer: ``(ticket, db_path, environment, job)``, or ``None`` to end;
- trainer to studio: ``(kind, ticket, *payload)``, the reports of ``jobs.JobRunner``,
  then ``("done", ticket)``.

A job is stopped through a number both processes see: the ticket of the job to
stop. The training process writes the store through its own connection;
SQLite's locking (WAL, a busy timeout) orders its writes and the window's, as
it does for the ``cast`` command line beside the studio.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import os
import signal
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

_CONTEXT = multiprocessing.get_context("spawn")
NO_TICKET = -1


class TrainingProcessEnded(RuntimeError):
    """The training process ended in the middle of a job (a crash, or it was killed)."""


class Trainer:
    """A training process that runs one job at a time; started on first use, started again after it died.

    ``setup`` (a module-level function, as it crosses to the new process by name) runs
    in the training process before its first job.
    """

    def __init__(self, setup: Callable[[], None] | None = None):
        self.setup = setup
        self._process = None
        self._conn = None
        self._stop = _CONTEXT.Value("q", NO_TICKET, lock=False)  # the ticket of the job to stop
        self._tickets = itertools.count(1)
        self._one_job = threading.Lock()
        self._running: int | None = None  # the ticket of the job in progress

    @property
    def pid(self) -> int | None:
        """The training process's id while it lives."""
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def ticket(self) -> int:
        """A number for the next job (``stop`` takes it, before or while the job runs)."""
        return next(self._tickets)

    def stop(self, ticket: int) -> None:
        """Ask job ``ticket`` to stop: at once if it has not started, else within a training step."""
        self._stop.value = ticket

    def start(self) -> None:
        """Start the training process unless it runs (it imports the engine: seconds)."""
        with self._one_job:
            self._started()

    def run(self, ticket: int, db_path: str | Path | None, job, report: Callable[..., None]) -> None:
        """Run ``job`` in the training process and call ``report(kind, *payload)`` in this thread
        for each of its reports; return when it is done.

        Raises TrainingProcessEnded when the process died during the job, and the job's
        pickling error when it cannot be sent (the process is then unharmed).
        """
        with self._one_job:
            conn = self._started()
            conn.send((ticket, None if db_path is None else str(db_path), dict(os.environ), job))
            self._running = ticket
            try:
                while True:
                    try:
                        kind, _, *payload = conn.recv()
                    except (EOFError, OSError) as exc:
                        code = self._reap()
                        raise TrainingProcessEnded(f"the training process ended during the job (exit code {code})") from exc
                    if kind == "done":
                        return
                    report(kind, *payload)
            finally:
                self._running = None

    def close(self, timeout_s: float = 30.0) -> None:
        """End the training process, once the job in progress (asked to stop) has ended."""
        if self._running is not None:
            self.stop(self._running)
        with self._one_job:
            if self._process is None:
                return
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._process.join(timeout_s)
            if self._process.is_alive():
                self._process.terminate()
            self._reap()

    def _started(self):
        if self._process is not None and self._process.is_alive():
            return self._conn
        self._reap()
        ours, theirs = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(target=serve, args=(theirs, self._stop, self.setup), name="cast-training")
        self._process.start()
        _close_at_exit(self)
        theirs.close()
        self._conn = ours
        return ours

    def _reap(self) -> int | None:
        """Forget a dead (or ended) process; its exit code."""
        if self._process is None:
            return None
        self._process.join(5)
        code = self._process.exitcode
        self._conn.close()
        self._process = self._conn = None
        return code


_TRAINERS: dict[object, Trainer] = {}
_TRAINERS_LOCK = threading.Lock()


def shared_trainer(setup: Callable[[], None] | None = None) -> Trainer:
    """The process's trainer (one per ``setup``): every run queue of a window shares it."""
    with _TRAINERS_LOCK:
        if setup not in _TRAINERS:
            _TRAINERS[setup] = Trainer(setup)
        return _TRAINERS[setup]


_STARTED: weakref.WeakSet[Trainer] = weakref.WeakSet()


def _close_started_trainers() -> None:
    for trainer in list(_STARTED):
        trainer.close(timeout_s=10)


def _close_at_exit(trainer: Trainer) -> None:
    """End ``trainer``'s process when the studio exits. Registered at the first start, after
    multiprocessing's own exit handler (which waits for child processes): handlers run last
    registered first, so the process is told to end before it is waited for."""
    if not _STARTED:
        atexit.unregister(_close_started_trainers)
        atexit.register(_close_started_trainers)
    _STARTED.add(trainer)


# ------------------------------------------------------------ the training process


class _StopFlag:
    """The cancel token of one job in the training process: stopped by the studio (the shared
    ticket) or by the engine itself (``cancel``)."""

    def __init__(self, shared, ticket: int):
        from cast_engine.train.events import CancelToken

        self._shared, self._ticket, self._local = shared, ticket, CancelToken()
        self.studio_gone = False

    def cancel(self, reason: str = "stopped by the user") -> None:
        self._local.cancel(reason)

    @property
    def reason(self) -> str:
        return self._local.reason

    @property
    def cancelled(self) -> bool:
        return self._local.cancelled or self._shared.value == self._ticket


def serve(conn, stop, setup) -> None:
    """The training process's main loop: one job after another until the studio says ``None`` or goes."""
    from .jobs import leave_a_core_to_the_interface, yield_the_cpu_to_the_interface

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal: the studio decides what stops
    yield_the_cpu_to_the_interface()  # before any thread starts: they all inherit it
    leave_a_core_to_the_interface()
    if setup is not None:
        setup()
    try:
        while (message := conn.recv()) is not None:
            ticket, db_path, environment, job = message
            os.environ.clear()
            os.environ.update(environment)  # the studio's, as it is now
            _run_job(conn, stop, ticket, db_path, job)
            conn.send(("done", ticket))
    except (EOFError, BrokenPipeError):
        pass  # the studio is gone


def _run_job(conn, stop, ticket: int, db_path: str | None, job) -> None:
    """Run one job on its own connection to the store it names."""
    import pickle

    from cast_engine.train.events import Message, RunEnded

    from .jobs import JobRunner
    from .store_access import open_store

    flag = _StopFlag(stop, ticket)

    def report(kind: str, *payload) -> None:
        if flag.studio_gone:
            return
        try:
            conn.send((kind, ticket, *payload))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # nothing was sent: the pipe is intact
            conn.send(("event", ticket, Message(f"a {kind} report could not reach the window: {exc}", "warning")))
        except OSError:  # the studio is gone: the job stops within a step, recorded as cancelled
            flag.studio_gone = True
            flag.cancel("the studio closed")

    try:
        store = open_store(db_path)
    except Exception as exc:  # the store itself could not be opened
        report("event", RunEnded(None, "failed", f"{type(exc).__name__}: {exc}", None))
        report("run_finished", -1, "failed", str(exc), None)
        return
    try:
        JobRunner(store, flag, report).run(job)
    finally:
        store.close()
