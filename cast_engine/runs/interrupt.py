"""Ctrl-C for a terminal run: the first press stops it cleanly, later presses cannot corrupt it.

Python's default turns Ctrl-C into a KeyboardInterrupt wherever the main
thread happens to be, which may be half-way through writing a checkpoint or
the run's final row. Here the first press only sets the run's cancel flag:
the training loop stops within one step and the run is saved as cancelled
with its metrics so far. A second press while that saving goes on is
acknowledged and ignored; a third raises KeyboardInterrupt for a user whose
run is stuck (the store's transactions roll back and the checkpoint file is
replaced atomically, so even then the run only shows as interrupted).
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from ..train.events import CancelToken


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


RUN_STOPPING = ("\ncast: stopping after the current step; the run is saved as cancelled "
                "(`cast resume RUN` continues it from its last epoch)")
SWEEP_STOPPING = ("\ncast: stopping the sweep; finished trials are kept and the trials in progress end "
                  "within a step (the same command again resumes the sweep)")


@contextmanager
def graceful_interrupt(token: CancelToken, say: Callable[[str], None] = _say,
                       stopping: str = RUN_STOPPING) -> Iterator[CancelToken]:
    """While inside, Ctrl-C (SIGINT) cancels ``token`` instead of raising; does nothing off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield token
        return
    presses = 0

    def on_interrupt(signum, frame) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            token.cancel("stopped with Ctrl-C")
            say(stopping)
        elif presses == 2:
            say("cast: still saving; press Ctrl-C once more to abandon what is in progress (a run then shows as interrupted)")
        else:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)
