"""Epoch checkpoints and `resume`: a stopped run continues and ends exactly where an unbroken one ends."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from cast_engine.errors import CastError
from cast_engine.store import RunStore
from cast_engine.train.events import CancelToken, EpochEnded
from cast_engine.runs.runner import resume, run


METHOD_CASES = {
    "full": ("full", {}, 3, 2),
    "cast": ("cast", {"alpha": 0.1, "k": "5%"}, 3, 2),
    "cast-two-stage": ("cast", {"k": "5%", "schedule": "two_stage", "refine_epochs": 1}, 2, 3),  # stop in the counterfactual branch
    "cast-refine": ("cast", {"k": "5%", "refine_epochs": 1, "optimizer_after_merge": "reset"}, 3, 1),
    "lt_sft-phase2": ("lt_sft", {"k": "5%"}, 2, 3),
    "lt_sft-between": ("lt_sft", {"k": "5%"}, 2, 2),  # stop right after the mask, before phase 2's first epoch
    "lora": ("lora", {}, 3, 1),
    "bitfit": ("bitfit", {}, 3, 2),
}


@pytest.fixture
def pairs_file(tmp_path):
    """A small paired CSV (24 pairs per split): runs take a second, so every method can be stopped and resumed."""
    path = tmp_path / "pairs.csv"
    rows = ["pair_id,split,role,text,label"]
    words = ["film", "plot", "cast", "score", "story", "ending"]
    for i in range(24):
        for split in ("train", "dev", "test"):
            topic = f"{words[i % 6]} {words[(i * 5 + 1) % 6]} number {i}"
            good, bad = (("positive", "negative") if i % 2 else ("negative", "positive"))
            rows.append(f"{split}{i},{split},original,a {'good' if good == 'positive' else 'bad'} {topic},{good}")
            rows.append(f"{split}{i},{split},revised,a {'bad' if good == 'positive' else 'good'} {topic},{bad}")
    path.write_text("\n".join(rows) + "\n")
    return path


def stop_after(epoch: int, token: CancelToken):
    def sink(event):
        if isinstance(event, EpochEnded) and event.epoch == epoch:
            token.cancel(f"test stop after epoch {epoch}")
    return sink


def record(store: RunStore, run_id: int) -> dict:
    """What a user compares between two runs: per-epoch metrics, masks, test results, predictions, weights."""
    row = store.get_run(run_id)
    timing = ("elapsed_s", "train_time_s")  # seconds differ between processes; nothing else may
    epochs = [{k: v for k, v in e.items() if k not in ("id", "run_id", *timing)} for e in store.epochs(run_id)]
    masks = [{k: v for k, v in m.items() if k not in ("id", "run_id")} for m in store.masks(run_id)]
    results = {k: v for k, v in (row["results"] or {}).items() if k not in ("resumed", *timing)}
    return {"status": row["status"], "best_epoch": row["best_epoch"], "results": results, "epochs": epochs,
            "masks": masks, "predictions": store.predictions(run_id)}


def same_weights(store: RunStore, a: int, b: int) -> None:
    first = load_file(store.get_run(a)["artifact_dir"] + "/delta.safetensors")
    second = load_file(store.get_run(b)["artifact_dir"] + "/delta.safetensors")
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


@pytest.mark.parametrize("case", sorted(METHOD_CASES))
def test_a_stopped_run_resumes_to_the_same_result(case, tiny_config, store_path, pairs_file):
    method, options, epochs, stop = METHOD_CASES[case]
    config = tiny_config(method, data=str(pairs_file), method_options=options, max_epochs=epochs, patience=10, batch_size=8)
    with RunStore(store_path) as store:
        reference = run(config, store=store)
        token = CancelToken()
        stopped = run(config, store=store, cancel=token, sinks=[stop_after(stop, token)])
        assert stopped.status == "cancelled"
        assert store.get_run(stopped.run_id)["results"]["epochs_completed"] >= stop
        resumed = resume(stopped.run_id, store=store)
        assert resumed.status == "completed", resumed.reason
        assert resumed.run_id == stopped.run_id
        assert record(store, resumed.run_id) == record(store, reference.run_id)
        same_weights(store, reference.run_id, resumed.run_id)
        row = store.get_run(resumed.run_id)
        assert row["results"]["resumed"][0]["after_epoch"] == stop
        assert not (store.artifact_dir(resumed.run_id) / "checkpoint.pt").exists()  # completed: nothing left to resume


def test_early_stopping_state_survives_a_resume(tiny_config, store_path, pairs_file):
    """Patience counts epochs before and after the stop together."""
    config = tiny_config("full", data=str(pairs_file), max_epochs=6, patience=1, min_delta=0.5, restore_best=True)
    with RunStore(store_path) as store:
        reference = run(config, store=store)
        token = CancelToken()
        stopped = run(config, store=store, cancel=token, sinks=[stop_after(1, token)])
        resumed = resume(stopped.run_id, store=store)
        assert record(store, resumed.run_id) == record(store, reference.run_id)
        assert len(store.epochs(resumed.run_id)) == 2  # early stop after the second epoch, as in the reference


def test_resume_refuses_what_it_cannot_continue(tiny_config, store_path, pairs_file):
    with RunStore(store_path) as store:
        done = run(tiny_config("full", data=str(pairs_file), max_epochs=1), store=store)
        with pytest.raises(CastError, match=f"run {done.run_id} is completed"):
            resume(done.run_id, store=store)
        token = CancelToken()
        token.cancel("before the first epoch")
        early = run(tiny_config("full", data=str(pairs_file)), store=store, cancel=token)
        with pytest.raises(CastError, match=f"run {early.run_id} has no checkpoint"):
            resume(early.run_id, store=store)
        with pytest.raises(CastError, match="no run 999"):
            resume(999, store=store)
        assert store.get_run(early.run_id)["status"] == "cancelled"  # left as it was


def test_resume_refuses_changed_data(tiny_config, store_path, pairs_file):
    data = pairs_file
    config = tiny_config("full", data=str(data), max_epochs=3)
    with RunStore(store_path) as store:
        token = CancelToken()
        stopped = run(config, store=store, cancel=token, sinks=[stop_after(1, token)])
        data.write_text(data.read_text().replace("number 3,", "number three,"))
        with pytest.raises(CastError, match=f"data file {data} changed since run {stopped.run_id} started"):
            resume(stopped.run_id, store=store)
        assert store.get_run(stopped.run_id)["status"] == "cancelled"


def test_a_damaged_checkpoint_is_named(tiny_config, store_path, pairs_file):
    with RunStore(store_path) as store:
        token = CancelToken()
        stopped = run(tiny_config("full", data=str(pairs_file), max_epochs=3), store=store, cancel=token, sinks=[stop_after(1, token)])
        path = store.artifact_dir(stopped.run_id) / "checkpoint.pt"
        path.write_bytes(path.read_bytes()[: 1000])
        with pytest.raises(CastError, match=f"checkpoint {path} cannot be read"):
            resume(stopped.run_id, store=store)


def test_an_epoch_row_lost_to_a_kill_is_restored_from_the_checkpoint(tiny_config, store_path, pairs_file):
    """A kill between writing epoch 2's checkpoint and its row: resume writes the row from the checkpoint."""
    config = tiny_config("cast", data=str(pairs_file), method_options={"k": "5%"}, max_epochs=3, batch_size=8)
    with RunStore(store_path) as store:
        reference = run(config, store=store)
        token = CancelToken()
        stopped = run(config, store=store, cancel=token, sinks=[stop_after(2, token)])
        store.db.execute("DELETE FROM epochs WHERE run_id = ? AND epoch = 2", (stopped.run_id,))
        store.db.conn.commit()
        resume(stopped.run_id, store=store)
        assert record(store, stopped.run_id) == record(store, reference.run_id)


def test_checkpoints_written_in_the_background_resume_the_same(tiny_config, store_path, pairs_file, monkeypatch):
    """The CUDA way of writing (host copies, a writer thread), forced on the CPU: the same result."""
    from cast_engine.train.trainer import Trainer

    monkeypatch.setattr(Trainer, "writes_in_background", lambda self: True)
    config = tiny_config("cast", data=str(pairs_file), method_options={"k": "5%"}, max_epochs=3, batch_size=8)
    with RunStore(store_path) as store:
        reference = run(config, store=store)
        token = CancelToken()
        stopped = run(config, store=store, cancel=token, sinks=[stop_after(2, token)])
        resume(stopped.run_id, store=store)
        assert record(store, stopped.run_id) == record(store, reference.run_id)
        same_weights(store, reference.run_id, stopped.run_id)


def test_deleting_a_stopped_run_removes_its_checkpoint(tiny_config, store_path, pairs_file):
    from cast_engine.runs.folders import delete_run

    with RunStore(store_path) as store:
        token = CancelToken()
        stopped = run(tiny_config("full", data=str(pairs_file), max_epochs=3), store=store, cancel=token,
                      sinks=[stop_after(1, token)])
        path = store.artifact_dir(stopped.run_id) / "checkpoint.pt"
        assert path.is_file()
        delete_run(store, stopped.run_id)
        assert not path.exists()


def test_a_resumed_run_shows_its_whole_history(tiny_config, store_path, pairs_file):
    """Displays (the studio's monitor, the terminal) get the epochs and masks before the resume too, once each."""
    from cast_engine.train.events import MaskComputed

    config = tiny_config("cast", data=str(pairs_file), method_options={"k": "5%"}, max_epochs=4, batch_size=8)
    with RunStore(store_path) as store:
        token = CancelToken()
        stopped = run(config, store=store, cancel=token, sinks=[stop_after(2, token)])
        seen = []
        resume(stopped.run_id, store=store, sinks=[seen.append])
        assert [e.epoch for e in seen if isinstance(e, EpochEnded)] == [1, 2, 3, 4]
        assert [e.epoch for e in seen if isinstance(e, MaskComputed)] == [1, 2, 3, 4]
        assert len(store.epochs(stopped.run_id)) == 4 and len(store.masks(stopped.run_id)) == 4  # nothing twice


def test_a_store_write_failure_fails_the_run_instead_of_losing_rows(tiny_config, store_path, pairs_file, monkeypatch):
    from cast_engine.errors import StoreError

    real = RunStore.add_epoch

    def full_at_epoch_2(self, run_id, epoch, stage, metrics):
        if epoch == 2:
            raise StoreError(f"run store {self.path}: write failed: database or disk is full")
        return real(self, run_id, epoch, stage, metrics)

    monkeypatch.setattr(RunStore, "add_epoch", full_at_epoch_2)
    with RunStore(store_path) as store:
        result = run(tiny_config("full", data=str(pairs_file), max_epochs=3), store=store)
        assert result.status == "failed" and "database or disk is full" in result.reason
        assert store.get_run(result.run_id)["status"] == "failed"
        monkeypatch.setattr(RunStore, "add_epoch", real)
        resumed = resume(result.run_id, store=store)  # its checkpoint of epoch 2 was written before the row
        assert resumed.status == "completed" and [e["epoch"] for e in store.epochs(result.run_id)] == [1, 2, 3]


def test_a_cli_run_records_its_data_by_absolute_path(tiny_model_dir, tmp_path, pairs_file, monkeypatch):
    """`cast run --data FILE` from the data's folder: `cast resume` later finds it from any folder."""
    from cast_engine.cli import main

    db = tmp_path / "runs.sqlite"
    monkeypatch.chdir(pairs_file.parent)
    assert main(["--db", str(db), "run", "--model", str(tiny_model_dir), "--data", pairs_file.name,
                 "--max-epochs", "1", "--device", "cpu", "--max-length", "32"]) == 0
    with RunStore(db) as store:
        row = store.list_runs()[0]
    assert row["config"]["data"]["data"] == str(pairs_file)
    assert list(row["data_hashes"]) == [str(pairs_file)]
