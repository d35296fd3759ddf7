"""bench/science.py end to end on the tiny model and the demo data: the study trains every arm,
continues a stopped run instead of starting over, and writes curves, table and comparisons."""

from __future__ import annotations

import csv

from cast_engine.store import RunStore
from cast_engine.train.events import CancelToken, EpochEnded
from cast_engine.runs.runner import run
from tests.bench_scripts import load_bench_script


def test_study_runs_resumes_and_reports(tiny_model_dir, tmp_path):
    science = load_bench_script("science")
    store_path = tmp_path / "science" / "runs.sqlite"
    study = science.Study("demo", str(tiny_model_dir), task="sentiment", variant="CAD", seeds=(1, 2), max_epochs=2,
                          patience=10, max_length=32, batch_size=16, lora_lr=1e-3, train_limit=24, eval_limit=12,
                          device="cpu")
    planned = study.configs()
    assert [label for label, _ in planned[:4]] == ["full", "cast", "cast-factual-magnitude", "lora"]
    assert planned[2][1].method.mask_criterion == "factual_magnitude" and planned[3][1].train.lr == 1e-3
    assert planned[0][1].resolved_lr()[1] == "method default" and planned[0][1].train.patience == 10

    # a run of the study stopped after its first epoch: the study continues it, it does not start again
    cancel = CancelToken()
    stopped = run(planned[1][1], store=store_path, save_model=False, cancel=cancel,
                  sinks=[lambda e: cancel.cancel() if isinstance(e, EpochEnded) else None])
    assert stopped.status == "cancelled"
    lines: list[str] = []
    ids = science.run_study(study, store_path, log=lines.append)
    assert f"resuming run {stopped.run_id}" in "\n".join(lines)
    assert len(ids) == 8 and stopped.run_id in ids
    again: list[str] = []
    assert science.run_study(study, store_path, log=again.append) == ids  # nothing left to train
    assert all("already completed" in line for line in again)

    out = tmp_path / "report"
    files = science.write_report(store_path, out, "demo, tiny model")
    assert {p.name for p in files} == {"curves.csv", "curves.png", "table.md", "table.csv",
                                       "compare-cast-vs-full.txt", "compare-cast-factual-magnitude-vs-full.txt",
                                       "compare-lora-vs-full.txt"}
    with RunStore(store_path) as store:
        epochs = {run_id: store.epochs(run_id) for run_id in ids}
        runs = {run_id: store.get_run(run_id) for run_id in ids}
    curves = list(csv.DictReader((out / "curves.csv").open()))
    assert len(curves) == sum(len(rows) for rows in epochs.values())
    for row in curves:
        stored = next(e for e in epochs[int(row["run_id"])] if e["epoch"] == int(row["epoch"]))
        assert int(row["train_examples"]) == stored["train_examples"]
    table = {row["arm"]: row for row in csv.DictReader((out / "table.csv").open())}
    assert set(table) == {"full", "cast", "cast-factual-magnitude", "lora"}
    full_tests = [100 * runs[i]["results"]["combined"] for i in ids if runs[i]["config"]["method"]["name"] == "full"]
    assert float(table["full"]["test_mean"]) == sum(full_tests) / 2
    assert float(table["full"]["ci_low"]) <= float(table["full"]["test_mean"]) <= float(table["full"]["ci_high"])
    # CAD regime: full fine-tuning's epoch is one pass over originals and revisions, CAST's is its two passes
    assert float(table["cast"]["train_examples"]) == float(table["full"]["train_examples"]) == 2 * 2 * 24
    compared = (out / "compare-lora-vs-full.txt").read_text()
    assert compared.startswith("$ cast compare --a") and "McNemar" in compared and "paired bootstrap" in compared
    assert "bootstrap 95 % CI" in (out / "table.md").read_text()
