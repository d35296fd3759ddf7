"""Concurrency (issue 5, point 4), the fast CI version of ``bench/concurrency_soak.py``.

A real ``cast sweep`` process and a loop of ``cast run`` processes write one store
while the studio (the real MainWindow, offscreen, in this process) refreshes the
History and Sweep pages every 300 ms and queues runs through its RunQueue, for
18 s. It fails on any "database is locked" (logs, warnings, stderr of every
process, exceptions in any thread, the studio's message boxes), on any run the
studio, the sweep or ``cast run`` reported that is missing or incomplete in the
store, and on a failed integrity or foreign-key check. About 45 s on 2 cores;
marked ``soak`` (deselect with ``-m "not soak"``). The 5-minute run is
``.venv/bin/python bench/concurrency_soak.py --minutes 5``.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.bench_scripts import load_bench_script  # noqa: E402

@pytest.mark.soak
@pytest.mark.timeout(300)
def test_cli_sweep_and_studio_share_the_store_without_locks_or_lost_rows(qapp, tiny_model_dir, tmp_path):
    soak = load_bench_script("concurrency_soak")
    report = soak.soak(0.3, workdir=tmp_path / "soak", model_dir=tiny_model_dir, run_every_s=6, refresh_ms=300,
                       epochs=6, sweep_trials=3, verbose=False)
    assert not report.failures, "\n" + report.table()
    assert report.figures["'database is locked' seen"] == 0


def test_the_soak_checks_can_fail(tmp_path):
    """The verifier is not a rubber stamp: a missing epoch row, a 'locked' line and a lost trial all fail it."""
    from cast_engine.store import RunStore

    soak = load_bench_script("concurrency_soak")
    store_path = tmp_path / "runs.sqlite"
    with RunStore(store_path) as store:
        sweep_id = store.create_sweep("soak-1", "sweep", {}, "hash", 2)
        ids = []
        for seed, kept_epochs, sweep in ((1, 2, None), (2, 1, None), (3, 2, sweep_id)):
            run_id = store.create_run({"train": {"max_epochs": 2}}, method="full", task="sentiment", variant="CAD",
                                      regime="cad", model="m", seed=seed, sweep_id=sweep, trial_key=f"t{seed}")
            for epoch in range(1, kept_epochs + 1):
                store.add_epoch(run_id, epoch, "full", {"train_loss": 0.5})
            for split in ("factual", "counterfactual"):
                store.save_predictions(run_id, split, [0, 1], [0, 1])
            store.finish_run(run_id, "completed")
            ids.append(run_id)
        store.finish_sweep(sweep_id, "completed")
    whole, short, trial = ids
    problems, calls = soak.Problems(), soak.StoreCalls()
    sweeps = soak.SweepLoop(store_path, tmp_path, {}, problems, tmp_path, 2, trials=2, workers=1)
    sweeps.outputs = [(0, f"[1/2 done] seed 1: run {trial}: combined 50.0 %, 1 s\n"
                          "[2/2 done] seed 2: run 99: combined 50.0 %, 1 s\n"
                          f"sweep {sweep_id}: completed; 2 trials have a completed run; wall time 2 s\n")]
    state = soak._State(queued=["full", "full", "full"], ticks=1,
                        finished=[(whole, "completed", ""), (short, "completed", ""), (-1, "failed", "not started")])
    calls.reads = 1
    problems.scan("cast sweep stderr", "sqlite3.OperationalError: database is locked\n")
    report = soak.SoakReport()
    soak._verify(report, store_path, state, [sweeps], problems, calls)
    failed = {name for name, ok, _ in report.checks if not ok}
    assert failed == {"no 'database is locked' anywhere",
                      "studio: every queued run completed",  # the third never started
                      "studio: every run whole in the store",  # run `short` lacks epoch 2
                      "sweeps: every reported trial whole in the store",  # run 99 is missing
                      "sweeps: each completed, holding exactly its reported trials"}, report.table()
