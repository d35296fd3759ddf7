"""A terminal progress sink: a tqdm bar with ETA and the current phase, and epoch lines."""

from __future__ import annotations

import sys

from ..train.events import EpochEnded, MaskComputed, Message, PhaseChanged, Progress, RunStarted


class TerminalProgress:
    """Shows run events in a terminal (stderr bar, stdout lines)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.bar = None
        self.phase = ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stdout)

    def __call__(self, event) -> None:
        from tqdm import tqdm

        if isinstance(event, RunStarted):
            self._write(f"run {event.run_id} on {event.device}: {event.trainable_params:,} of {event.total_params:,} parameters train")
        elif isinstance(event, PhaseChanged):
            self.phase = f"epoch {event.epoch} {event.phase}" if event.epoch else event.phase
            if self.bar is not None:
                self.bar.set_description(self.phase)  # a phase change is rare: redraw at once
        elif isinstance(event, Progress):
            if self.bar is None:
                self.bar = tqdm(total=event.planned_steps, file=self.stream, unit="step", dynamic_ncols=True, desc=self.phase)
            self.bar.total = max(event.planned_steps, event.step)
            self.bar.update(event.step - self.bar.n)
        elif isinstance(event, EpochEnded):
            m = event.metrics
            parts = [f"epoch {event.epoch} [{event.stage}]"]
            if m.get("train_loss") is not None:
                parts.append(f"loss {m['train_loss']:.4f}")
            for key in ("factual", "counterfactual", "combined", "pair"):
                if m.get(f"val_{key}") is not None:
                    parts.append(f"val {key} {100 * m[f'val_{key}']:.1f}")
            if event.improved:
                parts.append("(best)")
            self._write("  ".join(parts))
        elif isinstance(event, MaskComputed):
            overlap = f", Jaccard with previous mask {event.jaccard:.3f}" if event.jaccard is not None else ""
            self._write(f"mask: {event.kept:,} of {event.eligible:,} entries kept ({100 * event.kept / event.eligible:.3f} %){overlap}")
        elif isinstance(event, Message):
            self._write(event.text)
