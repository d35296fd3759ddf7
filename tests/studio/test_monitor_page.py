"""The Monitor page: events in, curves, heat map, progress and log out."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import math  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QEvent, QObject  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from cast_engine.train.events import (  # noqa: E402
    EpochEnded,
    LossReported,
    MaskComputed,
    Message,
    PhaseChanged,
    Progress,
    RunEnded,
    RunStarted,
)
from cast_studio.events import GpuMemory  # noqa: E402

LAYERS = ["embeddings"] + [f"layer {i}" for i in range(6)] + ["head"]
LAYER_SIZES = {"embeddings": 12_000_000, "head": 150_000, **{f"layer {i}": 1_800_000 for i in range(6)}}


def cast_config(method: str = "cast", name: str = "demo run") -> dict:
    return {"model": "minilm", "regime": "cad", "name": name,
            "data": {"data": "demo", "task": "sentiment", "variant": "RH1"},
            "train": {"max_epochs": 3, "batch_size": 16},
            "method": {"name": method, "k": "1%", "alpha": 0.05} if method == "cast" else {"name": method}}


def synthetic_run(epochs: int = 3, steps_per_pass: int = 10, seed: int = 0, method: str = "cast",
                  status: str = "completed", reason: str | None = None, layers=LAYERS) -> list:
    """A plausible CAST run: phases, steps, losses, epoch metrics and masks."""
    rng = random.Random(seed)
    passes = ("factual pass", "counterfactual pass", "refine (masked)") if method == "cast" else ("training",)
    planned = epochs * len(passes) * steps_per_pass
    events: list = [Message("cast: 123,456 of 22,713,216 parameters train (0.544 %)"),
                    RunStarted(7, cast_config(method), 123_456, 22_713_216, "cpu")]
    step, t = 0, 0.0
    for epoch in range(1, epochs + 1):
        for phase in passes:
            events.append(PhaseChanged(phase, epoch, ""))
            for _ in range(steps_per_pass):
                step += 1
                t += 0.05
                loss = 0.7 * math.exp(-step / (planned / 2.5)) + 0.08 + rng.uniform(-0.05, 0.05)
                events.append(LossReported(step, epoch, phase, loss, 1e-4))
                events.append(Progress(step, planned, epoch, phase, t, (planned - step) * t / step))
            if phase == "counterfactual pass":
                events.append(PhaseChanged("merge", epoch, ""))
                per_layer = {}
                for i, layer in enumerate(layers):
                    total = LAYER_SIZES.get(layer, 1000)
                    share = 0.002 + 0.004 * (i / len(layers)) + 0.002 * epoch / epochs + rng.uniform(0, 0.001)
                    per_layer[layer] = [int(total * share), total]
                kept = sum(v[0] for v in per_layer.values())
                eligible = sum(v[1] for v in per_layer.values())
                jac = None if epoch == 1 else min(1.0, 0.55 + 0.05 * epoch + rng.uniform(-0.03, 0.03))
                events.append(MaskComputed(epoch, kept, eligible, per_layer, jac))
        events.append(PhaseChanged("evaluation", epoch, "cast"))
        acc = 0.55 + 0.35 * (1 - math.exp(-epoch / 2.5))
        metrics = {"train_loss": 0.5 / epoch, "val_factual": acc + 0.02, "val_counterfactual": acc - 0.03,
                   "val_combined": acc, "val_pair": acc - 0.15, "lr": 1e-4, "elapsed_s": t}
        events.append(EpochEnded(epoch, "cast", metrics, True, epoch))
    events.append(PhaseChanged("test evaluation", epoch, ""))
    results = {"factual": 0.88, "counterfactual": 0.84, "combined": 0.86, "pair": 0.74} if status == "completed" else None
    events.append(RunEnded(7, status, reason, results))
    return events


@pytest.fixture
def page(qtbot):
    from cast_studio.pages.monitor_page import MonitorPage

    widget = MonitorPage()
    qtbot.addWidget(widget)
    return widget


def feed(page, events) -> None:
    for event in events:
        page.on_event(event)
    page.flush()


def curve_points(curve) -> tuple[list, list]:
    x, y = curve.getOriginalDataset()
    return ([] if x is None else list(x)), ([] if y is None else list(y))


def test_cast_run_fills_every_plot(page):
    events = synthetic_run(epochs=3)
    feed(page, events)

    losses = [e for e in events if isinstance(e, LossReported)]
    x, y = curve_points(page.loss_curve)
    assert x == [e.step for e in losses]
    assert y == pytest.approx([e.loss for e in losses])
    assert curve_points(page.loss_smooth_curve)[0] == x  # the smoothed line follows the same steps

    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert set(page.val_curves) == {"factual", "counterfactual", "combined", "pair"}
    for key, curve in page.val_curves.items():
        x, y = curve_points(curve)
        assert x == [e.epoch for e in epochs]
        assert y == pytest.approx([100 * e.metrics[f"val_{key}"] for e in epochs])

    masks = [e for e in events if isinstance(e, MaskComputed)]
    expected = np.array([[m.per_layer[layer][0] / m.per_layer[layer][1] for m in masks] for layer in LAYERS])
    assert page.mask_matrix.shape == (len(LAYERS), 3)
    np.testing.assert_allclose(page.mask_matrix, expected)
    assert page.mask_layers == LAYERS and page.mask_epochs == [1, 2, 3]
    assert page.mask_image.image is not None and page.mask_image.image.shape == (len(LAYERS), 3)
    ticks = page.mask_plot.getPlotItem().getAxis("left")._tickLevels[0]
    assert [label for _, label in ticks] == LAYERS
    assert page.mask_stack.currentWidget() is page.mask_plot
    assert not page.mask_note.isVisibleTo(page)

    x, y = curve_points(page.jaccard_curve)
    assert x == [m.epoch for m in masks if m.jaccard is not None] == [2, 3]
    assert y == pytest.approx([m.jaccard for m in masks if m.jaccard is not None])

    assert page.gpu_plot.isHidden()  # no GpuMemory events in this run
    assert not page.jaccard_plot.isHidden()

    progress = [e for e in events if isinstance(e, Progress)][-1]
    assert page.progress_bar.maximum() == progress.planned_steps
    assert page.progress_bar.value() == progress.step
    assert "Run #7" in page.title_label.text() and "CAST" in page.title_label.text()
    assert "demo run" in page.title_label.text()
    assert "cpu" in page.details_label.text() and "123,456" in page.details_label.text()
    assert page.status_kind == "completed" and "Completed" in page.status_label.text()
    log = page.log_text()
    assert "epoch 3" in log and "mask (epoch 2)" in log and "completed" in log
    assert "counterfactual pass" in log and "test accuracy" in log


def test_progress_header_and_eta(page):
    page.on_event(RunStarted(3, cast_config("full"), 100, 1000, "cuda:0"))
    page.on_event(PhaseChanged("training", 2, ""))
    page.on_event(Progress(40, 160, 2, "training", 125.0, 3725.0))
    page.flush()
    assert page.progress_bar.maximum() == 160
    assert page.progress_bar.value() == 40
    assert "40" in page.progress_bar.text() and "160" in page.progress_bar.text()
    assert page.eta_label.text() == "ETA 1:02:05"
    assert "0:02:05" in page.elapsed_label.text()
    assert "Epoch 2" in page.phase_label.text() and "training" in page.phase_label.text()
    assert "Full fine-tuning" in page.title_label.text()
    assert "cuda:0" in page.details_label.text()
    page.on_event(Progress(41, 160, 2, "training", 126.0, None))
    page.flush()
    assert page.eta_label.text() == "ETA –"


def test_format_duration():
    from cast_studio.pages.monitor_page import format_duration

    assert format_duration(0) == "0:00:00"
    assert format_duration(59.6) == "0:01:00"
    assert format_duration(3725) == "1:02:05"
    assert format_duration(90061) == "25:01:01"
    assert format_duration(None) == "–"
    assert format_duration(float("nan")) == "–"


def test_queue_label(page):
    page.on_queue_changed(2)
    assert page.queue_label.text() == "2 more runs queued"
    page.on_queue_changed(1)
    assert page.queue_label.text() == "1 more run queued"
    page.on_queue_changed(0)
    assert "no runs queued" in page.queue_label.text()


def test_stop_button(page, qtbot):
    assert not page.stop_button.isEnabled()  # nothing runs yet
    page.on_event(RunStarted(1, cast_config(), 10, 100, "cpu"))
    assert page.stop_button.isEnabled()
    with qtbot.waitSignal(page.stop_requested, timeout=1000):
        page.stop_button.click()
    assert page.stop_button.text() == "Stopping…"
    assert not page.stop_button.isEnabled()
    page.on_event(Progress(1, 10, 1, "factual pass", 1.0, 9.0))  # events still arrive until the loop notices
    assert page.stop_button.text() == "Stopping…"
    page.on_event(RunEnded(1, "cancelled", "stopped by the user", None))
    assert not page.stop_button.isEnabled()
    assert page.stop_button.text() == "Stop"
    assert page.status_kind == "cancelled"
    assert "Cancelled" in page.status_label.text()
    assert "stopped by the user" in page.status_text()
    assert page.reason_label.isVisibleTo(page) and "stopped by the user" in page.reason_label.text()
    assert "stopped by the user" in page.log_text()


def test_stop_button_disabled_after_completed_run(page, qtbot):
    events = synthetic_run(epochs=1)
    for event in events[:-1]:
        page.on_event(event)
    assert page.stop_button.isEnabled()
    page.on_event(events[-1])
    assert not page.stop_button.isEnabled()
    with qtbot.assertNotEmitted(page.stop_requested):
        page.stop_button.click()


def test_failed_run_shows_reason(page):
    reason = "the training loss became nan in epoch 2, step 31 (factual pass, batch 1)"
    events = synthetic_run(epochs=2, status="failed", reason=reason)
    feed(page, events)
    assert page.status_kind == "failed"
    assert page.status_label.text() == "Failed"
    assert page.status_text() == f"Failed: {reason}"
    assert page.reason_label.isVisibleTo(page) and reason in page.reason_label.text()
    assert f"run 7 failed: {reason}" in page.log_text()
    assert not page.stop_button.isEnabled()


def test_warning_messages_reach_the_log(page):
    page.on_event(Message("bf16 autocast applies on CUDA only: training in fp32 on cpu", "warning"))
    assert "warning: bf16 autocast applies on CUDA only" in page.log_text()


def test_reset_clears_everything(page):
    feed(page, synthetic_run(epochs=3))
    page.on_event(GpuMemory(5, 100 * 2**20, 200 * 2**20, 8 * 2**30))
    page.flush()
    page.reset()
    page.flush()
    assert curve_points(page.loss_curve) == ([], [])
    for curve in page.val_curves.values():
        assert curve_points(curve) == ([], [])
    assert curve_points(page.jaccard_curve) == ([], [])
    assert curve_points(page.gpu_curve) == ([], [])
    assert page.mask_matrix.size == 0
    assert page.mask_layers == [] and page.mask_epochs == []
    assert page.gpu_plot.isHidden()
    assert page.log_text() == ""
    assert page.progress_bar.value() <= 0
    assert page.status_kind == "idle"
    assert not page.reason_label.isVisibleTo(page)
    assert not page.stop_button.isEnabled()
    # and a second run shows only its own data
    events = synthetic_run(epochs=2, seed=3)
    feed(page, events)
    assert curve_points(page.loss_curve)[0] == [e.step for e in events if isinstance(e, LossReported)]
    assert page.mask_matrix.shape == (len(LAYERS), 2)


def test_gpu_memory_events_show_the_gpu_plot(page):
    page.on_event(RunStarted(2, cast_config("lora"), 10, 100, "cuda:0"))
    page.flush()
    assert not page.gpu_plot.isHidden()  # a CUDA run has its place for GPU memory from its start
    assert curve_points(page.gpu_curve) == ([], [])
    samples = [GpuMemory(step, (500 + step) * 2**20, (1024 + 2 * step) * 2**20, 80 * 2**30) for step in (10, 20, 30)]
    for sample in samples:
        page.on_event(sample)
    page.flush()
    assert not page.gpu_plot.isHidden()
    x, y = curve_points(page.gpu_curve)
    assert x == [10, 20, 30]
    assert y == pytest.approx([510, 520, 530])
    x, y = curve_points(page.gpu_reserved_curve)
    assert y == pytest.approx([1044, 1064, 1084])
    assert "80.0 GiB" in page.gpu_plot.getPlotItem().titleLabel.text


def test_method_without_mask_shows_a_note(page):
    events = synthetic_run(epochs=2, method="full")
    feed(page, events)
    assert "no mask for this method" in page.mask_note.text().lower()
    assert page.mask_note.isVisibleTo(page)
    assert not page.mask_plot.isVisibleTo(page)  # the bottom row gives its room to loss and accuracy
    assert not page.jaccard_plot.isVisibleTo(page)
    assert page.mask_matrix.size == 0
    page.on_event(GpuMemory(10, 2**30, 2**31, 8 * 2**30))
    page.flush()
    assert page.gpu_plot.isVisibleTo(page)  # GPU memory still shows, across the bottom row
    assert len(curve_points(page.val_curves["combined"])[0]) == 2


def test_missing_pair_metric_and_repeated_mask_epoch(page):
    page.on_event(RunStarted(1, cast_config("lt_sft"), 10, 100, "cpu"))
    page.on_event(EpochEnded(1, "s", {"val_factual": 0.5, "val_counterfactual": 0.4, "val_combined": 0.45,
                                     "val_pair": None}, True, 1))
    page.on_event(MaskComputed(1, 5, 100, {"layer 0": [2, 50], "head": [3, 50]}, None))
    page.on_event(MaskComputed(1, 5, 100, {"layer 0": [4, 50], "head": [1, 50]}, None))
    page.flush()
    assert curve_points(page.val_curves["pair"]) == ([], [])
    assert curve_points(page.val_curves["combined"]) == ([1], [45.0])
    np.testing.assert_allclose(page.mask_matrix, [[4 / 50], [1 / 50]])
    assert curve_points(page.jaccard_curve) == ([], [])


def test_redraws_are_coalesced(page, qtbot):
    """Tens of thousands of step events cost little: plots redraw from a timer, not per event."""
    page.show()
    page.on_event(RunStarted(1, cast_config(), 10, 100, "cpu"))
    calls = {"n": 0}
    original = page.loss_curve.setData

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    page.loss_curve.setData = counting
    n = 10_000
    times = []
    for first, last in ((1, n // 10), (n // 10 + 1, n)):  # the first tenth, then the other nine
        started = time.perf_counter()
        for step in range(first, last + 1):
            page.on_event(LossReported(step, 1, "factual pass", 1.0 / step, 1e-4))
            page.on_event(Progress(step, n, 1, "factual pass", step * 0.01, (n - step) * 0.01))
        times.append(time.perf_counter() - started)
    page.flush()
    # a redraw per event would cost in proportion to the points drawn: 9x the events, ~100x the time
    assert times[1] < 30 * times[0], f"the first {n // 10} events took {times[0]:.3f} s, the next {n - n // 10} {times[1]:.3f} s"
    assert calls["n"] <= 3
    assert len(curve_points(page.loss_curve)[0]) == n
    assert page.progress_bar.value() == n
    # the timer redraws by itself too
    page.on_event(LossReported(n + 1, 1, "factual pass", 0.5, 1e-4))
    qtbot.waitUntil(lambda: len(curve_points(page.loss_curve)[0]) == n + 1, timeout=2000)


def test_real_engine_run(page, tiny_config, store_path):
    from cast_engine.runs.runner import run

    events: list = []
    result = run(tiny_config("cast", method_options={"k": "1%"}), store=store_path, sinks=[events.append])
    assert result.status == "completed", result.reason
    feed(page, events)

    losses = [e for e in events if isinstance(e, LossReported)]
    assert losses
    x, y = curve_points(page.loss_curve)
    assert x == [e.step for e in losses]
    assert y == pytest.approx([e.loss for e in losses])

    epochs = [e for e in events if isinstance(e, EpochEnded)]
    for key, curve in page.val_curves.items():
        expected = [(e.epoch, 100 * e.metrics[f"val_{key}"]) for e in epochs if e.metrics.get(f"val_{key}") is not None]
        x, y = curve_points(curve)
        assert x == [p[0] for p in expected]
        assert y == pytest.approx([p[1] for p in expected])

    masks = [e for e in events if isinstance(e, MaskComputed)]
    assert masks
    layers = list(masks[0].per_layer)
    assert page.mask_layers == layers
    expected = np.array([[m.per_layer[layer][0] / m.per_layer[layer][1] for m in masks] for layer in layers])
    np.testing.assert_allclose(page.mask_matrix, expected)
    x, y = curve_points(page.jaccard_curve)
    assert x == [m.epoch for m in masks if m.jaccard is not None]
    assert y == pytest.approx([m.jaccard for m in masks if m.jaccard is not None])

    progress = [e for e in events if isinstance(e, Progress)][-1]
    assert page.progress_bar.maximum() == max(progress.planned_steps, progress.step)
    assert page.status_kind == "completed"
    assert f"Run #{result.run_id}" in page.title_label.text()
    assert not page.stop_button.isEnabled()


class _LayoutChanges(QObject):
    """Counts the widgets shown, hidden or resized."""

    def __init__(self, widgets):
        super().__init__()
        self.changes: list[tuple[str, str]] = []
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, watched, event):  # noqa: N802 (Qt's name)
        if event.type() in (QEvent.Type.Show, QEvent.Type.Hide, QEvent.Type.Resize):
            self.changes.append((type(watched).__name__, event.type().name))
        return False


def test_a_run_like_the_last_keeps_every_plot_and_the_header_in_place(page):
    """At each run's start the mask heat map was swapped for its placeholder and the mask overlap for a note,
    and at its end the results line was shown: each re-laid out the page and redrew every plot."""
    page.resize(1366, 700)
    page.show()
    feed(page, synthetic_run(epochs=3))
    QApplication.processEvents()
    header_height = page.header.height()
    watched = [page.plots, page.header, page.loss_plot, page.val_plot, page.mask_stack, page.mask_plot,
               page.jaccard_plot, page.side_box]
    changes = _LayoutChanges(watched)
    events = synthetic_run(epochs=3, seed=1)
    page.next_run(events[1].config)
    feed(page, events[:4])  # the next run is announced, starts and reports its first step
    QApplication.processEvents()
    assert changes.changes == []
    assert page.mask_stack.currentWidget() is page.mask_plot
    assert page.mask_waiting.isVisible() and page.mask_image.image is None  # the heat map waits for the mask
    assert "after the first mask" in page.mask_waiting.textItem.toPlainText()
    feed(page, events[2:])
    QApplication.processEvents()
    assert not page.mask_waiting.isVisible() and page.mask_matrix.shape == (len(LAYERS), 3)
    assert "Test accuracy" in page.results_label.text()
    assert changes.changes == [] and page.header.height() == header_height


def test_a_run_without_a_mask_after_one_with_gives_the_plots_the_room(page):
    page.resize(1366, 700)
    page.show()
    feed(page, synthetic_run(epochs=2))
    feed(page, synthetic_run(epochs=2, method="full")[:3])
    assert not page.mask_stack.isVisibleTo(page) and not page.jaccard_plot.isVisibleTo(page)
    feed(page, synthetic_run(epochs=2, seed=2)[:3])  # a masked method again: the placeholder says what comes
    assert page.mask_stack.isVisibleTo(page) and page.mask_stack.currentWidget() is page.mask_placeholder
    assert "after the first mask" in page.mask_placeholder.text()


def test_the_header_has_room_for_a_run_before_the_first(page):
    """The first run's details and results lines made the header taller, which resized every plot."""
    page.resize(1366, 700)
    page.show()
    QApplication.processEvents()
    header_height = page.header.height()
    changes = _LayoutChanges([page.plots, page.header])
    feed(page, synthetic_run(epochs=2))
    QApplication.processEvents()
    assert "Test accuracy" in page.results_label.text()
    assert changes.changes == [] and page.header.height() == header_height
