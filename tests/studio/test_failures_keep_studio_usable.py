"""After a diverged run, a CUDA out-of-memory (simulated) and a full disk, the studio's queue runs the next one."""

from __future__ import annotations

import os
import shutil
from collections import namedtuple

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

from cast_engine.runs import runner as runner_module  # noqa: E402
from cast_studio.store_access import open_store  # noqa: E402
from cast_studio.worker import RunQueue  # noqa: E402

DIVERGES, OUT_OF_MEMORY, DISK_FULL, FINE = 11, 12, 13, 14  # seeds that pick each run's trouble


def _make_training_troubled() -> None:
    """In the training process: each run's seed picks its trouble (a NaN loss, CUDA out of memory, a full disk)."""
    current = {}
    real_prepare, real_loss, real_usage = runner_module.prepare, torch.nn.functional.cross_entropy, shutil.disk_usage

    def prepare(config, *args, **kwargs):
        current["seed"] = config.train.seed
        return real_prepare(config, *args, **kwargs)

    def loss(*args, **kwargs):
        if current.get("seed") == OUT_OF_MEMORY:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        value = real_loss(*args, **kwargs)
        return value * float("nan") if current.get("seed") == DIVERGES else value

    def usage(path):
        if current.get("seed") == DISK_FULL:
            return namedtuple("usage", "total used free")(10**9, 10**9 - 2**20, 2**20)
        return real_usage(path)

    runner_module.prepare = prepare
    torch.nn.functional.cross_entropy = loss
    shutil.disk_usage = usage


def test_the_queue_survives_divergence_out_of_memory_and_a_full_disk(qtbot, tiny_config, store_path):
    queue = RunQueue(store_path, trainer_setup=_make_training_troubled)
    finished = []
    queue.run_finished.connect(lambda *args: finished.append(args))
    with qtbot.waitSignal(queue.idle, timeout=180_000):
        queue.submit([tiny_config("full", max_epochs=1, seed=seed) for seed in (DIVERGES, OUT_OF_MEMORY, DISK_FULL, FINE)])
    assert [f[1] for f in finished] == ["failed", "failed", "failed", "completed"]
    assert "training loss became nan in epoch 1" in finished[0][2]
    assert "CUDA ran out of memory" in finished[1][2] and "--batch-size" in finished[1][2]
    assert "not enough free disk space" in finished[2][2] and finished[2][0] == -1  # refused before it was recorded
    with open_store(store_path) as store:
        runs = {r["seed"]: r for r in store.list_runs()}
    assert runs[DIVERGES]["status"] == "failed" and runs[OUT_OF_MEMORY]["status"] == "failed"
    assert DISK_FULL not in runs and runs[FINE]["status"] == "completed"
    queue.shutdown()
