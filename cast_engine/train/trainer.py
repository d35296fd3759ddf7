"""The training loop that every method drives.

A method calls ``train_pass`` (one epoch over a set, optionally with
gradients masked), ``evaluate``, ``snapshot``/``load`` and ``fit`` (epochs
with validation and early stopping). The loop reads top to bottom: set the
learning rate, forward, backward, mask, clip, step, report, check for stop.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import CastError, ConfigError, RunCancelled, TrainingDiverged
from ..evaluate.metrics import cad_metrics
from .batches import TokenizedSet, iterate, length_grouped_batches, sequential_batches, shuffled_batches
from .events import CancelToken, EpochEnded, LossReported, Message, PhaseChanged, Progress
from .stash import OptimizerStash
from .state import StageState, rng_state, set_rng_state
from .unpadded import unpadded_logits, unpadded_problem

Masks = dict[str, torch.Tensor]
Snapshot = dict[str, torch.Tensor]


@dataclass
class TokenizedSplit:
    """A dev or test split ready for evaluation."""

    factual: TokenizedSet
    counterfactual: TokenizedSet
    pairs: list[tuple[int, int]]


@dataclass
class TrainingData:
    """Tokenised training sets and evaluation splits."""

    factual: TokenizedSet
    counterfactual: TokenizedSet
    union: TokenizedSet
    dev: TokenizedSplit
    test: TokenizedSplit
    num_labels: int

    def baseline_set(self, regime: str) -> TokenizedSet:
        """The training set of a baseline: originals (nocad) or both (cad)."""
        return self.factual if regime == "nocad" else self.union


class Trainer:
    """Owns the model, optimiser and schedule while a run trains."""

    def __init__(self, model, tokenizer, config, data: TrainingData, device: torch.device,
                 emit: Callable, cancel: CancelToken | None = None):
        self.model = model.to(device)
        self._logits = self._padded_logits
        if config.train.unpadded:
            problem = unpadded_problem(self.model)
            if problem:
                raise ConfigError(f"train.unpadded: {problem}")
            self._logits = functools.partial(torch.compile(unpadded_logits, dynamic=True) if config.train.compile
                                             else unpadded_logits, self.model)
        elif config.train.compile:
            self.model.compile()  # in place: parameter names (masks, snapshots, exports) stay as they are
        self.pad_id = tokenizer.pad_token_id or 0
        self.config = config
        self.train_cfg = config.train
        self.data = data
        self.device = device
        self.emit = emit
        self.cancel = cancel or CancelToken()
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler = None
        self.epoch = 0
        self.step = 0
        self.planned_steps = 1
        self.started = time.perf_counter()
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self.autocast = train_autocast(device, self.train_cfg.bf16)
        on_host = device.type == "cuda" and self.train_cfg.host_snapshots
        self.snapshot_device = torch.device("cpu") if on_host else device
        self.stash = OptimizerStash(device)
        self.save_state: Callable[[dict], None] | None = None  # called with state_dict() after every epoch
        self._writer: threading.Thread | None = None  # writes the last checkpoint (CUDA)
        self._write_error: tuple[int, OSError] | None = None
        self.resume: dict | None = None  # a state_dict() to continue from (consumed by the fit stage it was saved in)
        self._stage_state: StageState | None = None  # the fit stage in progress, for state_dict()
        self._best_weights: Snapshot | None = None
        self._best_mask: Masks | None = None
        self.carry: dict[str, Snapshot] = {}  # what the method keeps between epochs, saved with each checkpoint
        self.resumes: list[dict] = []  # where this run was resumed, for the record
        self.losses: list[tuple] = []  # every reported loss (step, epoch, phase, loss, lr), kept in checkpoints
        self.last_loss: float | None = None
        self.masks_done = 0  # masks reported so far (a resumed run's store keeps this many mask rows)
        self.lr, _ = config.resolved_lr()
        self.lr_source: str | None = None  # why the run trains at self.lr (set by the runner; kept in checkpoints)
        self.examples = 0  # training examples processed: one per forward and backward pass (CAST's two passes count twice)
        self.train_s = 0.0  # seconds spent in training passes (no evaluation, no merging)

    def _padded_logits(self, **inputs) -> torch.Tensor:
        return self.model(**inputs).logits

    # ---------------------------------------------------------------- parameters
    def trainable(self) -> list[tuple[str, torch.nn.Parameter]]:
        """Parameters that train, in model order."""
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def snapshot(self, names: list[str] | None = None, device: torch.device | None = None) -> Snapshot:
        """A copy of the trainable parameters (or the named ones), on ``device`` (default: the snapshot device)."""
        wanted = None if names is None else set(names)
        target = device or self.snapshot_device
        copies = {n: copy_to(p, target) for n, p in self.trainable() if wanted is None or n in wanted}
        self._settle()
        return copies

    def _settle(self) -> None:
        """Wait for copies into pinned host memory before anything reads them."""
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()  # cheap when nothing is pending

    @torch.no_grad()
    def load(self, snapshot: Snapshot) -> None:
        """Write a snapshot back into the model's parameters."""
        params = dict(self.model.named_parameters())
        for name, value in snapshot.items():
            params[name].copy_(value, non_blocking=True)

    # ------------------------------------------------------------------ optimiser
    def steps_in(self, data: TokenizedSet) -> int:
        return math.ceil(len(data) / self.train_cfg.batch_size)

    def new_optimizer(self, total_steps: int) -> None:
        """A fresh optimiser over the trainable parameters, with linear decay over total_steps."""
        from transformers import get_linear_schedule_with_warmup

        cfg = self.train_cfg
        self.stash.wait()  # no copy may still be writing into the old optimiser's state
        params = [p for _, p in self.trainable()]
        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        extra = {"fused": True} if self.device.type == "cuda" else {"foreach": True}
        self.optimizer = opt_cls(params, lr=self.lr, weight_decay=cfg.weight_decay, **extra)
        self.schedule_steps = total_steps
        warmup = int(cfg.warmup_ratio * total_steps)
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, warmup, max(total_steps, 1))

    def reset_optimizer(self, scheduler_state: dict) -> None:
        """Fresh optimiser moments at the same place in the learning-rate schedule."""
        self.new_optimizer(self.schedule_steps)
        self.scheduler.load_state_dict(scheduler_state)
        for group, lr in zip(self.optimizer.param_groups, self.scheduler.get_last_lr()):
            group["lr"] = lr

    def optimizer_state(self) -> dict:
        """A copy of the optimiser and schedule state (see ``stash``: host memory on CUDA, a file on CPU)."""
        return {"optimizer": self.stash.save(self.optimizer), "scheduler": self.scheduler.state_dict()}

    def restore_optimizer(self, state: dict) -> None:
        """Write a saved optimiser and schedule state back (in place; the saved copy stays valid)."""
        self.stash.restore(self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    # ------------------------------------------------------------------ training
    def emit_mask(self, event) -> None:
        """Report a new mask (a MaskComputed event)."""
        self.masks_done += 1
        self.emit(event)

    def phase(self, name: str, stage: str = "") -> None:
        self.emit(PhaseChanged(name, self.epoch, stage))

    def train_pass(self, data: TokenizedSet, phase: str, pass_index: int = 0, masks: Masks | None = None) -> float:
        """One epoch over ``data``; returns the mean training loss.

        With ``masks``, only the masked entries of those parameters change:
        their gradients are zeroed elsewhere, the optimiser's moments there are
        zeroed, and weight decay is applied by hand to masked entries only
        (AdamW's decoupled decay would otherwise move every entry).
        """
        cfg = self.train_cfg
        self.phase(phase)
        self.model.train()
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.epoch * 101 + pass_index)
        if cfg.group_by_length:
            batches = length_grouped_batches(data.lengths, cfg.batch_size, generator)
        else:
            batches = shuffled_batches(len(data), cfg.batch_size, generator)
        params = dict(self.trainable())
        if masks is not None:
            self._zero_state_outside(masks, params)
        decay = cfg.weight_decay
        if masks is not None:
            for group in self.optimizer.param_groups:
                group["weight_decay"] = 0.0
        loss_sum = torch.zeros((), device=self.device)
        window = torch.zeros((), device=self.device)
        pass_started = time.perf_counter()
        try:
            for i, (inputs, labels) in enumerate(iterate(data, batches, self.pad_id, self.device), start=1):
                if self.cancel.cancelled:  # checked every step
                    raise RunCancelled(self.cancel.reason)
                with self.autocast:  # forward
                    logits = self._logits(**inputs)
                loss = torch.nn.functional.cross_entropy(logits.float(), labels)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()  # backward
                if masks is not None:
                    self._mask_gradients(masks, params, decay)
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(params.values(), cfg.grad_clip)
                self.stash.wait()  # saved or restored moments must be in place before they change
                self.optimizer.step()  # step
                self.scheduler.step()
                self.step += 1
                self.examples += labels.shape[0]
                loss_sum += loss.detach()
                window += loss.detach()
                if i % cfg.log_every == 0 or i == len(batches):  # report (the one host sync)
                    steps = ((i - 1) % cfg.log_every) + 1
                    self._report(window.item() / steps, phase, i, steps)
                    window.zero_()
                self.emit(Progress(self.step, self.planned_steps, self.epoch, phase,
                                   time.perf_counter() - self.started, self._eta()))
        finally:
            self.train_s += time.perf_counter() - pass_started
            self.optimizer.zero_grad(set_to_none=True)  # gradients are dead between passes: free them
            if masks is not None:
                for group in self.optimizer.param_groups:
                    group["weight_decay"] = decay
        return float(loss_sum.item() / max(len(batches), 1))

    @torch.no_grad()
    def _mask_gradients(self, masks: Masks, params: dict, decay: float) -> None:
        lr = self.scheduler.get_last_lr()[0]
        for name, p in params.items():
            mask = masks.get(name)
            if decay and self.train_cfg.optimizer == "adam" and p.grad is not None:
                p.grad.add_(p, alpha=decay)  # Adam's L2 decay enters through the gradient
            if decay and self.train_cfg.optimizer == "adamw":  # decoupled decay, masked entries only
                shrunk = p * (1 - lr * decay)
                p.copy_(shrunk if mask is None else torch.where(mask, shrunk, p))
            if mask is not None and p.grad is not None:
                p.grad.mul_(mask)

    @torch.no_grad()
    def _zero_state_outside(self, masks: Masks, params: dict) -> None:
        self.stash.wait()
        for name, mask in masks.items():
            state = self.optimizer.state.get(params[name], {})
            for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                if key in state:
                    state[key].mul_(mask)

    def _report(self, loss: float, phase: str, batch: int, steps: int) -> None:
        if not math.isfinite(loss):  # checked once per report: a check per step would stall the GPU
            where = f"step {self.step}" if steps == 1 else f"steps {self.step - steps + 1}–{self.step}"
            raise TrainingDiverged(f"the training loss became {loss} in epoch {self.epoch}, {where} ({phase}); "
                                   "try a lower learning rate (--lr) or gradient clipping (--grad-clip)")
        self.last_loss = loss
        report = (self.step, self.epoch, phase, loss, self.scheduler.get_last_lr()[0])
        self.losses.append(report)
        self.emit(LossReported(*report))

    def _eta(self) -> float | None:
        if self.step == 0:
            return None
        elapsed = time.perf_counter() - self.started
        return max(self.planned_steps - self.step, 0) * elapsed / self.step

    # ---------------------------------------------------------------- evaluation
    @torch.no_grad()
    def predict(self, data: TokenizedSet) -> list[int]:
        if len(data) == 0:
            return []
        self.model.eval()
        preds: list[torch.Tensor] = []
        batches = sequential_batches(data.lengths, self.train_cfg.eval_batch_size)
        for _indices, (inputs, _) in zip(batches, iterate(data, batches, self.pad_id, self.device)):
            if self.cancel.cancelled:
                raise RunCancelled(self.cancel.reason)
            with self.autocast:
                preds.append(self._logits(**inputs).argmax(-1))
        self.model.train()
        flat = torch.cat(preds).tolist()
        order = [i for b in batches for i in b]
        out = [0] * len(data)
        for i, p in zip(order, flat):
            out[i] = p
        return out

    def evaluate(self, split: TokenizedSplit, keep_predictions: bool = False) -> dict:
        """Factual, counterfactual, combined and pair accuracy, and the confusion matrix.

        ``keep_predictions`` adds ``predictions``: {split: (predicted, gold)} per example,
        for paired significance tests between runs on the same test set.
        """
        factual, counterfactual = self.predict(split.factual), self.predict(split.counterfactual)
        metrics = cad_metrics(factual, split.factual.labels, counterfactual, split.counterfactual.labels,
                              split.pairs, self.data.num_labels)
        if keep_predictions:
            metrics["predictions"] = {"factual": (factual, list(split.factual.labels)),
                                      "counterfactual": (counterfactual, list(split.counterfactual.labels))}
        return metrics

    # ---------------------------------------------------------- early stopping
    def fit(self, stage: str, iteration: Callable[[int], dict | None], max_epochs: int) -> int | None:
        """Run ``iteration`` once per epoch with validation and early stopping.

        Restores the best epoch's weights at the end when ``restore_best`` is
        set, and with them the mask the method carried in that epoch
        (``carry["mask"]``): the kept mask is the one of the kept weights.
        Returns the best epoch (global numbering). With a checkpoint to
        resume in this stage, continues after its epoch; with ``save_state``
        set, hands it ``state_dict()`` after every epoch.
        """
        cfg = self.train_cfg
        state, best_weights, best_mask = StageState(stage), None, None
        if self.resume is not None:
            if self.resume_stage != stage:
                raise CastError(f"the checkpoint was written in stage {self.resume_stage!r}, "
                                f"but {self.config.method.name} starts here at stage {stage!r}")
            state, best_weights, best_mask = self._restore(self.resume)
            self.resume = None
        while state.epochs_done < max_epochs and state.waited < cfg.patience:
            self.epoch += 1
            state.epochs_done += 1
            info = iteration(self.epoch) or {}
            self.phase("evaluation", stage)
            val = self.evaluate(self.data.dev)
            score = val["combined"]
            improved = state.best_score is None or score > state.best_score + cfg.min_delta
            if improved:
                state.best_score, state.best_epoch, state.waited = score, self.epoch, 0
                if cfg.restore_best:
                    best_weights = self.snapshot(device=torch.device("cpu"))  # one copy, kept off the GPU
                    best_mask = mask_copy(self.carry.get("mask"))
            else:
                state.waited += 1
            metrics = {**info, **{f"val_{k}": v for k, v in val.items()},
                       "lr": self.scheduler.get_last_lr()[0], "elapsed_s": time.perf_counter() - self.started,
                       "train_examples": self.examples, "train_time_s": self.train_s}
            self.history.append({"epoch": self.epoch, "stage": stage, **metrics})
            self._stage_state, self._best_weights, self._best_mask = state, best_weights, best_mask
            self._save_checkpoint()  # first: a resume restores the epoch's row from its history
            self.emit(EpochEnded(self.epoch, stage, metrics, improved, state.best_epoch))
            if state.waited >= cfg.patience:
                self.emit(Message(f"{stage}: early stop after epoch {self.epoch}: no gain over {cfg.min_delta} for {state.waited} epochs"))
        if cfg.restore_best and best_weights is not None and state.best_epoch != self.epoch:
            self.load(best_weights)
            self.emit(Message(f"{stage}: restored the weights of epoch {state.best_epoch} (best validation accuracy {state.best_score:.4f})"))
            if best_mask is None and self.carry.get("mask") is not None:
                self.emit(Message(f"{stage}: the checkpoint this run resumed from does not hold the mask of epoch "
                                  f"{state.best_epoch}; the saved mask is the last epoch's", "warning"))
        if cfg.restore_best and best_mask is not None:
            self.carry["mask"] = best_mask
        self.best_epoch = state.best_epoch
        self._stage_state = self._best_weights = self._best_mask = None
        return state.best_epoch

    # ------------------------------------------------------------- resume state
    def state_dict(self, host_copy: bool = False) -> dict:
        """Everything needed to continue after the epoch that just ended, as plain data and tensors.

        Weights (trainable ones: a resumed run rebuilds the frozen ones from its
        seed), optimiser and schedule, random state, counters and history, the
        early-stopping state of the stage in progress with its best weights and
        mask, and what the method carries. ``host_copy``: copies on the host (to write
        while training goes on) instead of the live tensors.
        """
        state = self._stage_state
        trainable = {n: p.detach() for n, p in self.trainable()}
        return {
            "epoch": self.epoch, "step": self.step, "elapsed_s": time.perf_counter() - self.started,
            "stage": dict(vars(state)), "history": list(self.history),
            "weights": self.snapshot(device=torch.device("cpu")) if host_copy else trainable,
            "best_weights": None if state.best_epoch == self.epoch else self._best_weights,
            "best_mask": None if state.best_epoch == self.epoch else self._best_mask,
            "optimizer": to_host(self.optimizer.state_dict()) if host_copy else self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "schedule_steps": self.schedule_steps,
            "rng": rng_state(self.device),
            "carry": {name: {k: v.detach().cpu() for k, v in tensors.items()} for name, tensors in self.carry.items()},
            "resumes": list(self.resumes), "masks_done": self.masks_done, "losses": list(self.losses),
            "lr_source": self.lr_source, "examples": self.examples, "train_s": self.train_s,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a ``state_dict()``: applied when the stage it was saved in starts
        (``fit``), after the method has built that stage's optimiser."""
        self.resume = state
        self.resumes = state["resumes"]

    @property
    def resume_stage(self) -> str | None:
        """The stage the state being resumed was saved in (None: not resuming)."""
        return self.resume["stage"]["stage"] if self.resume is not None else None

    def carried(self, name: str, device: torch.device | None = None) -> Snapshot | None:
        """What the method kept under ``name`` in the state being resumed, on ``device`` (default: the training device)."""
        if self.resume is None or name not in self.resume["carry"]:
            return None
        return {k: v.to(device or self.device) for k, v in self.resume["carry"][name].items()}

    def _save_checkpoint(self) -> None:
        """Hand this epoch's state to ``save_state``; a failed write (full disk…) warns and training goes on.

        On CUDA the state is copied to host memory and written by a background
        thread while the next epoch trains. On the CPU it is written at once
        from the live tensors: a copy would cost host memory, and the writing
        would compete with training for the same cores anyway.
        """
        if self.save_state is None:
            return
        self.wait_for_checkpoint()  # one file, replaced in order
        self.stash.wait()  # optimiser moments restored asynchronously must be in place
        state = self.state_dict(host_copy=self.writes_in_background())
        if not self.writes_in_background():
            self._write_checkpoint(state)
        else:
            self._writer = threading.Thread(target=self._write_checkpoint, args=(state,),
                                            name="cast-checkpoint", daemon=True)
            self._writer.start()
        self.wait_for_checkpoint(block=False)

    def writes_in_background(self) -> bool:
        """Whether checkpoints are copied and written while training goes on (CUDA) or written in place (CPU)."""
        return self.device.type == "cuda"

    def _write_checkpoint(self, state: dict) -> None:
        try:
            self.save_state(state)
        except OSError as exc:  # reported by wait_for_checkpoint, on the training thread
            self._write_error = (state["epoch"], exc)

    def wait_for_checkpoint(self, block: bool = True) -> None:
        """Wait for a checkpoint being written (``block``); warn when one could not be written."""
        if block and self._writer is not None:
            self._writer.join()
            self._writer = None
        if self._write_error is not None:
            epoch, exc = self._write_error
            self._write_error = None
            self.emit(Message(f"could not save the checkpoint of epoch {epoch} to {self.save_state} "
                              f"({exc.strerror or exc}); training goes on, a crash now would resume from an earlier epoch",
                              "warning"))

    def _restore(self, saved: dict) -> tuple[StageState, Snapshot | None, Masks | None]:
        """Put weights, optimiser, schedule, random state and counters back as they were after its epoch;
        returns the stage's early-stopping state, best weights and best mask."""
        state = StageState(**saved["stage"])
        if saved["schedule_steps"] != self.schedule_steps:
            raise CastError(f"the checkpoint of epoch {saved['epoch']} plans {saved['schedule_steps']} steps "
                            f"for stage {state.stage!r}, this run plans {self.schedule_steps}: "
                            "the data or settings changed since it was written")
        self.load({name: value.to(self.device) for name, value in saved["weights"].items()})
        self.stash.wait()
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        set_rng_state(saved["rng"], self.device)
        self.epoch, self.step, self.masks_done = saved["epoch"], saved["step"], saved["masks_done"]
        self.examples, self.train_s = saved.get("examples", 0), saved.get("train_s", 0.0)
        self.history = list(saved["history"])
        self.losses = list(saved.get("losses", []))
        self.started = time.perf_counter() - saved["elapsed_s"]
        best = saved["best_weights"]
        best_mask = saved.get("best_mask")  # absent from checkpoints written before it was kept
        if state.best_epoch == saved["epoch"] and self.train_cfg.restore_best:
            best = self.snapshot(device=torch.device("cpu")) if best is None else best
            best_mask = mask_copy(saved["carry"].get("mask"))  # the checkpoint's epoch is the best: its mask
        self.emit(Message(f"resumed after epoch {saved['epoch']} ({state.stage}, step {self.step})"))
        return state, best, best_mask


def train_autocast(device: torch.device, bf16: bool):
    """bf16 autocast when asked and the device computes in bf16 natively, else a no-op context."""
    import contextlib

    if bf16 and bf16_native(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes in bf16 natively: CUDA, or a CPU with AVX512-BF16 or AMX (elsewhere it is emulated and slower)."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def mask_copy(masks: Masks | None) -> Masks | None:
    """A copy of ``masks`` on the host (None stays None): a mask to keep while the method selects new ones."""
    if masks is None:
        return None
    return {name: mask.detach().to("cpu", copy=True) for name, mask in masks.items()}


def to_host(value):
    """``value`` (nested dicts and lists of tensors, as an optimiser's state_dict) with every tensor copied to the host."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: to_host(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_host(v) for v in value)
    return value


def copy_to(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A copy of ``tensor`` on ``device``; copies from CUDA to the host go to pinned memory, asynchronously."""
    tensor = tensor.detach()
    if device.type == "cpu" and tensor.is_cuda:
        out = torch.empty(tensor.shape, dtype=tensor.dtype, device="cpu", pin_memory=True)
        return out.copy_(tensor, non_blocking=True)
    if tensor.device == device:
        return tensor.clone()
    return tensor.to(device, non_blocking=True, copy=True)
