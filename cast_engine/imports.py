"""Heavy imports that two threads must not see half done.

Hugging Face datasets looks transformers up in ``sys.modules`` while it reads
or hashes data; if another thread is still inside ``import transformers`` at
that moment, datasets finds a half-initialised module and fails ("module
'transformers' has no attribute 'PreTrainedTokenizerBase'"). The studio loads
data for its Data page while a run starts in another thread, so both sides
take one lock: the import of transformers, and every datasets read.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

_lock = threading.RLock()


def import_transformers():
    """``transformers``, imported whole, never while another thread reads data with datasets."""
    with _lock:
        import transformers
    return transformers


@contextlib.contextmanager
def no_import_in_progress() -> Iterator[None]:
    """Inside, no other thread is halfway through importing transformers (for datasets calls)."""
    with _lock:
        yield
