"""Hugging Face datasets without progress bars or logs, safe across threads.

datasets' progress bars are one global switch, and tqdm is not thread-safe
(tqdm deletes its class lock when its last bar closes; another thread's bar
then fails with "type object 'tqdm' has no attribute '_lock'"). The studio reads
data in one thread while a run or a sweep tokenises in another, so the switch
is turned off while any thread is inside ``datasets_quiet()`` and restored
when the last one leaves. tqdm's class lock is created up front: datasets'
``thread_map`` deletes it on the way out when it had to create it, which
breaks a bar closing in another thread at that moment (the workaround of
tqdm issue #982).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Iterator

_lock = threading.Lock()
_depth = 0
_saved: tuple[bool, int] = (False, logging.NOTSET)


@contextlib.contextmanager
def datasets_quiet() -> Iterator[None]:
    """No datasets progress bars or log lines inside; the caller's settings come back after."""
    global _depth, _saved
    import datasets

    from tqdm import tqdm

    logger = logging.getLogger("datasets")
    with _lock:
        tqdm.get_lock()
        if _depth == 0:
            _saved = (not datasets.utils.are_progress_bars_disabled(), logger.level)
            datasets.disable_progress_bars()
            logger.setLevel(logging.CRITICAL + 1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                bars_were_enabled, level = _saved
                logger.setLevel(level)
                if bars_were_enabled:
                    datasets.enable_progress_bars()
