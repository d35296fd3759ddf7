"""Saved optimiser state (Adam's moments) that CAST restores between its passes, kept where it costs least.

- Training on CUDA: pinned host memory. Copies run on a side stream while the
  GPU keeps computing; the training loop waits for them only before the next
  optimiser step, which is the first thing that changes the moments.
- Training on the CPU: a temporary file of raw bytes. RAM then holds only the
  two weight snapshots, and the file is read back one tensor at a time, in
  place. (Not safetensors: its reader maps the whole file, and mapped pages
  count as resident memory while the moments are read back.)
- Elsewhere (MPS): a plain copy on the device.

``torch.optim.Optimizer.state_dict``/``load_state_dict`` would do, but they
copy every moment on each restore and cannot overlap copies with compute;
restoring in place keeps memory flat and lets the copies hide behind work.
"""

from __future__ import annotations

import itertools
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import torch

_FILE_IDS = itertools.count()


@dataclass
class SavedOptimizer:
    """The moments of every parameter (by position) and each group's hyperparameters."""

    groups: list[dict]
    scalars: dict[int, dict]  # non-tensor state entries
    homes: dict[str, torch.device] = field(default_factory=dict)  # "index.key" of every saved tensor -> its device
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)  # "index.key" -> copy (host or device memory)
    path: Path | None = None  # the file holding the tensors, when they were written out
    places: dict[str, tuple[int, torch.dtype, torch.Size]] = field(default_factory=dict)  # name -> (offset, dtype, shape)

    def __del__(self):
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class OptimizerStash:
    """Saves and restores an optimiser's state for one training device."""

    def __init__(self, device: torch.device):
        self.device = device
        self.mode = {"cuda": "cuda_host", "cpu": "file"}.get(device.type, "device")
        self.stream = torch.cuda.Stream(device) if self.mode == "cuda_host" else None
        self._pending: list = []
        self._dir: tempfile.TemporaryDirectory | None = None
        self._free_buffers: list[dict[str, torch.Tensor]] = []  # pinned host sets, reused: pinning is slow

    # ----------------------------------------------------------------- save
    def save(self, optimizer: torch.optim.Optimizer) -> SavedOptimizer:
        """A copy of the optimiser's state; on CUDA it completes in the background."""
        params = _params(optimizer)
        groups = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
        saved = SavedOptimizer(groups, {})
        live = {}
        for index, p in enumerate(params):
            for key, value in optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor):
                    live[f"{index}.{key}"] = value
                    saved.homes[f"{index}.{key}"] = value.device
                else:
                    saved.scalars.setdefault(index, {})[key] = value
        if self.mode == "cuda_host":
            self.stream.wait_stream(torch.cuda.current_stream(self.device))  # after the last optimiser step
            saved.tensors = self._host_buffers(live)
            weakref.finalize(saved, self._free_buffers.append, saved.tensors)  # back to the pool when dropped
            with torch.cuda.stream(self.stream):  # pool reuse is safe: every copy to or from it runs on this stream
                for name, value in live.items():
                    saved.tensors[name].copy_(value, non_blocking=True)
            self._record()  # a save must finish before the next step changes the moments
        elif self.mode == "file":
            saved.path = self._folder() / f"optimizer-{next(_FILE_IDS)}.bin"
            with open(saved.path, "wb") as handle:
                for name, value in live.items():
                    saved.places[name] = (handle.tell(), value.dtype, value.shape)
                    value.detach().reshape(-1).view(torch.uint8).numpy().tofile(handle)
        else:
            saved.tensors = {name: value.clone() for name, value in live.items()}
        return saved

    # -------------------------------------------------------------- restore
    def restore(self, optimizer: torch.optim.Optimizer, saved: SavedOptimizer) -> None:
        """Write ``saved`` back into the optimiser, in place where the tensors exist."""
        params = _params(optimizer)
        for group, hyper in zip(optimizer.param_groups, saved.groups):
            group.update(hyper)
        wanted: dict[int, dict] = {}
        for name in saved.homes:
            index, key = name.split(".", 1)
            wanted.setdefault(int(index), {})[key] = name
        reader = self._reader(saved)
        if self.mode == "cuda_host":
            self.stream.wait_stream(torch.cuda.current_stream(self.device))  # after the moments' last use
        for index, p in enumerate(params):
            names = wanted.get(index, {})
            if not names and index not in saved.scalars:
                optimizer.state.pop(p, None)  # a parameter that had not stepped yet
                continue
            state = optimizer.state[p]
            for key in [k for k in state if k not in names and k not in saved.scalars.get(index, {})]:
                del state[key]
            state.update(saved.scalars.get(index, {}))
            for key, name in names.items():
                source = reader(name)
                target = state.get(key)
                if not isinstance(target, torch.Tensor) or target.shape != source.shape or target.dtype != source.dtype:
                    target = state[key] = torch.empty(source.shape, dtype=source.dtype, device=saved.homes[name])
                self._copy(target, source)
        if self.mode == "cuda_host":
            self._record()

    def wait(self) -> None:
        """Make the training stream wait for pending copies (call before an optimiser step)."""
        if self._pending:
            stream = torch.cuda.current_stream(self.device)
            for event in self._pending:
                stream.wait_event(event)
            self._pending.clear()

    # -------------------------------------------------------------- helpers
    def _host_buffers(self, live: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Pinned host tensors shaped like ``live``: a free set from the pool, else views of one new pinned block."""
        layout = {name: (value.shape, value.dtype) for name, value in live.items()}
        for i, buffers in enumerate(self._free_buffers):
            if {name: (b.shape, b.dtype) for name, b in buffers.items()} == layout:
                return self._free_buffers.pop(i)
        offsets, total = {}, 0
        for name, value in live.items():
            offsets[name] = total
            total += -(-value.numel() * value.element_size() // 64) * 64  # 64-byte aligned views
        block = torch.empty(max(total, 1), dtype=torch.uint8, pin_memory=True)  # one slow pinning call, not hundreds
        return {name: block[offsets[name]: offsets[name] + value.numel() * value.element_size()]
                .view(value.dtype).view(value.shape) for name, value in live.items()}

    def _copy(self, target: torch.Tensor, source: torch.Tensor) -> None:
        if self.mode == "cuda_host":
            with torch.cuda.stream(self.stream):
                target.copy_(source, non_blocking=True)
            if target.is_cuda:
                target.record_stream(self.stream)
        else:
            target.copy_(source)

    def _reader(self, saved: SavedOptimizer):
        """Name -> saved tensor. (On CUDA a restore reads a save's buffers on the stream that filled them.)"""
        if self.mode != "file":
            return saved.tensors.__getitem__
        import numpy

        def read(name: str) -> torch.Tensor:  # one tensor at a time: RAM holds one extra moment at most
            offset, dtype, shape = saved.places[name]
            size = torch.empty((), dtype=dtype).element_size() * shape.numel()
            raw = numpy.fromfile(saved.path, dtype=numpy.uint8, count=size, offset=offset)
            return torch.from_numpy(raw).view(dtype).reshape(shape)

        return read

    def _record(self) -> None:
        """Mark the side stream's copies so far as pending for the training stream."""
        event = torch.cuda.Event()
        event.record(self.stream)
        self._pending.append(event)

    def _folder(self) -> Path:
        """The stash's temporary folder (removed with the stash, by TemporaryDirectory's own finaliser)."""
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="cast-optimizer-")
        return Path(self._dir.name)


def _params(optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]

