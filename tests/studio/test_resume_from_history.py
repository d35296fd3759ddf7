"""History's Resume: a stopped run continues from its checkpoint through the studio's run queue."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


from cast_engine.store import RunStore  # noqa: E402
from cast_engine.train.events import CancelToken, EpochEnded  # noqa: E402
from cast_engine.runs.runner import run  # noqa: E402


def stopped_and_reference_runs(tiny_config, store_path):
    config = tiny_config("cast", method_options={"k": "5%"}, max_epochs=3)
    token = CancelToken()

    def stop_after_first_epoch(event):
        if isinstance(event, EpochEnded):
            token.cancel("stopped in a test")

    with RunStore(store_path) as store:
        reference = run(config, store=store)
        stopped = run(config, store=store, cancel=token, sinks=[stop_after_first_epoch])
    return reference, stopped


def test_resume_button_continues_a_stopped_run(qtbot, window, tiny_config, store_path):
    reference, stopped = stopped_and_reference_runs(tiny_config, store_path)
    history = window.history_page
    history.refresh()
    history.select_runs([reference.run_id])
    assert not history.resume_button.isEnabled()  # completed: nothing to resume
    history.select_runs([stopped.run_id])
    assert history.resume_button.isEnabled(), history.resume_button.toolTip()
    finished = []
    window.queue.run_finished.connect(lambda *args: finished.append(args))
    with qtbot.waitSignal(window.queue.idle, timeout=120_000):
        history.resume_button.click()
    assert window.nav.currentRow() == 2  # the Monitor shows the resumed run
    assert finished[0][:2] == (stopped.run_id, "completed")
    assert finished[0][3]["combined"] == reference.test["combined"]
    with RunStore(store_path) as store:
        row = store.get_run(stopped.run_id)
        assert row["results"]["resumed"][0]["after_epoch"] == 1
        assert len(store.epochs(stopped.run_id)) == len(store.epochs(reference.run_id))
    history.select_runs([stopped.run_id])
    assert not history.resume_button.isEnabled()  # completed now


def test_resume_button_explains_a_run_without_checkpoint(window, tiny_config, store_path):
    token = CancelToken()
    token.cancel("before the first epoch")
    early = run(tiny_config("full"), store=store_path, cancel=token)
    window.history_page.refresh()
    window.history_page.select_runs([early.run_id])
    assert not window.history_page.resume_button.isEnabled()
    assert "has no checkpoint" in window.history_page.resume_button.toolTip()
