"""Divergence and exhaustion: NaN or infinite loss, CUDA out of memory (simulated), a full disk,
a read-only store location. Each ends with a clear message; nothing half-written is left."""

from __future__ import annotations

import os
import re
import shutil
from collections import namedtuple
from pathlib import Path

import pytest
import torch

from cast_engine.errors import CastError, StoreError
from cast_engine.store import RunStore
from cast_engine.runs import runner as runner_module
from cast_engine.runs import checkpoint as checkpoint_module
from cast_engine.runs.checkpoint import Checkpoint
from cast_engine.train.events import Message
from cast_engine.runs.runner import run


def test_infinite_loss_fails_naming_epoch_and_steps(tiny_config, store_path, monkeypatch):
    real = torch.nn.functional.cross_entropy
    calls = []

    def blows_up_at_step_5(*args, **kwargs):
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("inf") if len(calls) == 5 else loss

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", blows_up_at_step_5)
    result = run(tiny_config("full", log_every=4), store=store_path)
    assert result.status == "failed"
    # inf at step 5 (then NaN gradients): the report of the window that held it names its steps
    assert re.search(r"the training loss became (inf|nan) in epoch 1, steps 5–8", result.reason)
    assert "--lr" in result.reason
    with RunStore(store_path) as store:
        row = store.get_run(result.run_id)
    assert row["status"] == "failed" and row["reason"] == result.reason


def test_simulated_cuda_out_of_memory_fails_with_advice(tiny_config, store_path, monkeypatch):
    real = torch.nn.functional.cross_entropy
    calls = []

    def out_of_memory_at_step_3(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", out_of_memory_at_step_3)
    result = run(tiny_config("cast", method_options={"k": "5%"}, batch_size=16, max_length=48), store=store_path)
    assert result.status == "failed"
    assert "CUDA ran out of memory in epoch 1 with batch_size 16 and max_length 48" in result.reason
    assert "--batch-size 8" in result.reason and "--host-snapshots" in result.reason
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", real)
    assert run(tiny_config("full", max_epochs=1), store=store_path).status == "completed"  # the next run is fine


def test_a_full_disk_is_refused_at_start(tiny_config, store_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 5 * 2**20, 5 * 2**20))
    with pytest.raises(CastError, match=f"not enough free disk space in {store_path.parent}: this run needs about"):
        run(tiny_config("cast", method_options={"k": "5%"}), store=store_path)
    with RunStore(store_path) as store:
        assert store.list_runs() == []  # refused before anything was written


def test_a_failed_checkpoint_write_warns_and_training_goes_on(tiny_config, store_path, monkeypatch):
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full, where every write fails with 'No space left on device'")

    def save_to_a_full_disk(checkpoint: Checkpoint, path: Path) -> None:
        with open("/dev/full", "wb") as handle:
            torch.save(checkpoint.to_payload(), handle)
            handle.flush()

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", save_to_a_full_disk)
    messages = []
    result = run(tiny_config("full", max_epochs=2), store=store_path,
                 sinks=[lambda e: messages.append(e) if isinstance(e, Message) else None])
    assert result.status == "completed"
    warnings = [m.text for m in messages if m.level == "warning"]
    assert len(warnings) == 2 and "No space left on device" in warnings[0] and "training goes on" in warnings[0]


def test_a_read_only_store_location_is_refused_at_start(tiny_config, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    target = folder / "runs.sqlite"
    if os.access(folder, os.W_OK):  # root ignores permission bits; /sys refuses even root
        target = Path("/sys/cast-studio-test/runs.sqlite")
        if os.access("/sys", os.W_OK) and not _refuses(target.parent):
            folder.chmod(0o700)
            pytest.skip("no location here refuses writes to this user")
    try:
        with pytest.raises(StoreError, match="cannot open run store") as caught:
            run(tiny_config("full", max_epochs=1), store=target)
    finally:
        folder.chmod(0o700)
    assert str(target) in str(caught.value)


def _refuses(folder: Path) -> bool:
    try:
        folder.mkdir()
    except OSError:
        return True
    folder.rmdir()
    return False


def test_out_of_memory_advice_names_the_settings(tiny_config):
    config = tiny_config("lora", batch_size=1, max_length=512, bf16=True)
    advice = runner_module.out_of_memory_advice(config, 0)
    assert "epoch 1 with batch_size 1 and max_length 512" in advice
    assert "--batch-size 1" in advice and "--bf16" not in advice and "--host-snapshots" not in advice
