"""The numbers of the run the Monitor page shows, collected from its events.

Events can arrive tens of times per second, so each one only appends to plain
Python lists here; ``RunPlots`` draws them when the page redraws. No Qt, no torch.
"""

from __future__ import annotations

import numpy as np

from cast_engine.train.events import EpochEnded, MaskComputed

from ..events import GpuMemory

VAL_SERIES = ("factual", "counterfactual", "combined", "pair")
MIB = 1 << 20
#: Weight of a new loss in the smoothed loss curve (an exponential moving average).
SMOOTHING = 0.08


def layer_rank(name: str) -> tuple[int, int, str]:
    """Where a mask row goes: embeddings, then 'layer 0', 'layer 1'… by number, then the head and the rest."""
    if name == "embeddings":
        return (0, 0, name)
    if name.startswith("layer ") and name[6:].isdigit():
        return (1, int(name[6:]), name)
    return (2 if name == "head" else 3, 0, name)


class RunSeries:
    """Loss per step, validation accuracy per epoch, the mask per layer and epoch, GPU memory."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget every number: ready for a new run."""
        #: True for methods with a sparse mask, False for those without, None before the run starts.
        self.masked_method: bool | None = None
        #: Whether the run trains on a CUDA device (its GPU memory plot is shown from the start).
        self.on_cuda = False
        self.loss_x: list[float] = []
        self.loss_y: list[float] = []
        self.loss_smooth: list[float] = []
        self.val: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in VAL_SERIES}
        self.best: tuple[float, float] | None = None
        self.epoch_ends: list[tuple[int, int]] = []  # (epoch, its last loss step)
        self.last_loss_step: int | None = None
        self.mask_layers: list[str] = []
        self.mask_epochs: list[int] = []
        self.mask_columns: list[dict] = []  # per column: {layer: (kept, total)}
        self.mask_matrix = np.zeros((0, 0))
        self.jac_x: list[float] = []
        self.jac_y: list[float] = []
        self.gpu_x: list[float] = []
        self.gpu_alloc: list[float] = []
        self.gpu_reserved: list[float] = []
        self.gpu_total: int | None = None

    def add_loss(self, step: int, loss: float) -> None:
        self.loss_x.append(step)
        self.loss_y.append(float(loss))
        loss = float(loss)
        if self.loss_smooth and loss == loss:  # exponential moving average, NaN-safe
            self.loss_smooth.append(self.loss_smooth[-1] + SMOOTHING * (loss - self.loss_smooth[-1]))
        else:
            self.loss_smooth.append(loss)
        self.last_loss_step = step

    def add_gpu(self, event: GpuMemory) -> None:
        self.gpu_x.append(event.step)
        self.gpu_alloc.append(event.allocated_bytes / MIB)
        self.gpu_reserved.append(event.reserved_bytes / MIB)
        self.gpu_total = event.total_bytes

    def add_epoch(self, event: EpochEnded) -> None:
        """Validation accuracies (in %), the best epoch and where the epoch ended on the loss curve."""
        metrics = event.metrics or {}
        for key in VAL_SERIES:
            value = metrics.get(f"val_{key}")
            if value is None:
                continue
            xs, ys = self.val[key]
            if xs and xs[-1] == event.epoch:  # the same epoch again: replace
                ys[-1] = 100 * float(value)
            else:
                xs.append(event.epoch)
                ys.append(100 * float(value))
        if event.improved and metrics.get("val_combined") is not None:
            self.best = (event.epoch, 100 * float(metrics["val_combined"]))
        if self.last_loss_step is not None:
            self.epoch_ends.append((event.epoch, self.last_loss_step))

    def add_mask(self, event: MaskComputed) -> None:
        """A column of kept shares per layer, and the overlap with the previous mask."""
        per_layer = {str(name): (int(v[0]), int(v[1])) for name, v in (event.per_layer or {}).items()}
        # in model order, however the event's dict is ordered (a stored mask's comes back sorted by name)
        self.mask_layers = sorted(dict.fromkeys([*self.mask_layers, *per_layer]), key=layer_rank)
        if self.mask_epochs and self.mask_epochs[-1] == event.epoch:
            self.mask_columns[-1] = per_layer
        else:
            self.mask_epochs.append(event.epoch)
            self.mask_columns.append(per_layer)
        self.mask_matrix = self._matrix()
        if event.jaccard is not None:
            if self.jac_x and self.jac_x[-1] == event.epoch:
                self.jac_y[-1] = float(event.jaccard)
            else:
                self.jac_x.append(event.epoch)
                self.jac_y.append(float(event.jaccard))

    def _matrix(self) -> np.ndarray:
        matrix = np.full((len(self.mask_layers), len(self.mask_columns)), np.nan)
        for j, column in enumerate(self.mask_columns):
            for i, layer in enumerate(self.mask_layers):
                kept, total = column.get(layer, (0, 0))
                if total:
                    matrix[i, j] = kept / total
        return matrix
