"""One run from a config: data, model, method, training, test, store, artifact.

A run flows one way: config → data, model and method → the trainer emits
events → sinks (the store writer, a progress bar, the studio). Every user
mistake is found before the run is written to the store.
"""

from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Iterable

from ..config import RunConfig, config_fingerprint
from ..errors import CastError, RunCancelled, TrainingDiverged
from .events import CancelToken, Emitter, EpochEnded, MaskComputed, Message, RunEnded, RunStarted, Sink


@dataclass
class RunResult:
    """What a run measured. ``test`` holds the test accuracies of the best epoch."""

    run_id: int | None
    status: str
    reason: str | None
    test: dict | None
    best_epoch: int | None
    history: list[dict] = field(default_factory=list)
    trainable_params: int = 0
    total_params: int = 0
    wall_time_s: float = 0.0
    artifact: Path | None = None


def package_versions() -> dict:
    """Versions of the packages that decide a run's numbers."""
    found = {"python": platform.python_version()}
    for name in ("cast-studio", "torch", "transformers", "datasets", "peft", "adapters", "safetensors"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def file_hashes(paths: Iterable[Path]) -> dict:
    """sha256 of each data file, so a result can be traced to its exact input."""
    hashes = {}
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        hashes[str(path)] = digest.hexdigest()
    return hashes


class StoreSink:
    """Writes epoch metrics and mask statistics of one run to the store."""

    def __init__(self, store, run_id: int):
        self.store, self.run_id = store, run_id

    def __call__(self, event) -> None:
        if isinstance(event, EpochEnded):
            self.store.add_epoch(self.run_id, event.epoch, event.stage, _storable(event.metrics))
        elif isinstance(event, MaskComputed):
            self.store.add_mask(self.run_id, event.epoch, event.kept, event.eligible, event.jaccard, event.per_layer)


def _storable(metrics: dict) -> dict:
    """Numbers only: the confusion matrix of each epoch stays in the event."""
    return {k: v for k, v in metrics.items() if v is None or isinstance(v, (int, float))}


def open_store(store):
    """A RunStore, or anything with its writing methods (a sweep's TrialRecorder), or a path."""
    if hasattr(store, "create_run"):
        return store
    from ..store import RunStore

    return RunStore(store)


def run(config: RunConfig, *, store=None, sinks: Iterable[Sink] = (), cancel: CancelToken | None = None,
        dataset=None, save_model: bool = True) -> RunResult:
    """Train and evaluate one configuration; record it in the run store.

    ``store``: a RunStore, a path, or None for the default store. ``sinks``
    receive every event. ``cancel`` stops the run within one step.
    ``save_model=False`` keeps no weights (sweeps of many trials). Raises
    CastError subclasses for bad input before anything is written; failures
    during training are recorded and returned with status 'failed'.
    """
    import torch
    import transformers

    from ..methods.registry import get_method
    from ..models import count_parameters, load_classifier
    from .device import pick_device
    from .prepare import load_data, tokenize_data
    from .trainer import Trainer, bf16_native

    config.validate()
    cancel = cancel or CancelToken()
    emit = Emitter(list(sinks))
    device = pick_device(config.train.device)
    dataset = dataset or load_data(config.data)
    transformers.set_seed(config.train.seed)
    model, tokenizer = load_classifier(config.model, dataset.labels)
    method = get_method(config.method.name).create(config.method)
    model = method.prepare(model)
    trainable, total = count_parameters(model)
    method_info = method.describe()
    emit(Message(f"{config.method.name}: {trainable:,} of {total:,} parameters train ({100 * trainable / total:.3f} %)"
                 + "".join(f", {k} {v:,}" if isinstance(v, int) else f", {k} {v:.4g}" for k, v in method_info.items())))
    if config.train.bf16 and not bf16_native(device):
        emit(Message(f"bf16 autocast needs CUDA or a CPU with native bfloat16: training in fp32 on {device}", "warning"))
    data = tokenize_data(dataset, tokenizer, config)

    store = open_store(store)
    run_id = store.create_run(
        config.to_dict(), method=config.method.name, task=dataset.task, variant=dataset.variant,
        regime="cad" if config.method.uses_both_branches else config.regime, model=config.model,
        seed=config.train.seed, name=config.name or None, data_hashes=file_hashes(dataset.files),
        versions=package_versions(), trainable_params=trainable, total_params=total,
        fingerprint=config_fingerprint(config.to_dict()),
    )
    emit.sinks.insert(0, StoreSink(store, run_id))
    started = time.perf_counter()
    trainer = Trainer(model, tokenizer, config, data, device, emit, cancel)
    trainer.planned_steps = method.planned_steps(trainer)
    emit(RunStarted(run_id, config.to_dict(), trainable, total, str(device)))
    status, reason, test, artifact = "completed", None, None, None
    try:
        method.train(trainer)
        trainer.phase("test evaluation")
        test = trainer.evaluate(data.test, keep_predictions=True)
        for split, (predicted, gold) in test.pop("predictions").items():
            store.save_predictions(run_id, split, predicted, gold)
        if save_model:
            artifact = save_artifact(store, run_id, method, trainer.model, config, dataset.labels)
    except RunCancelled as exc:
        status, reason = "cancelled", str(exc)
    except KeyboardInterrupt:
        status, reason = "cancelled", "interrupted (Ctrl-C)"
    except TrainingDiverged as exc:
        status, reason = "failed", str(exc)
    except torch.cuda.OutOfMemoryError:
        status, reason = "failed", "CUDA ran out of memory: try a smaller batch_size or max_length"
    except Exception as exc:  # recorded, then shown; the store stays consistent
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - started
    results = {**(test or {}), "epochs_completed": trainer.epoch, "method_info": method_info}
    store.finish_run(run_id, status, reason=reason, results=results, best_epoch=trainer.best_epoch)
    emit(RunEnded(run_id, status, reason, test))
    return RunResult(run_id, status, reason, test, trainer.best_epoch, trainer.history, trainable, total, wall, artifact)


def save_artifact(store, run_id: int, method, model, config: RunConfig, labels: list[str]) -> Path:
    """Save the trained weights as a sparse delta against the base model."""
    from ..export.delta import save_delta

    path = store.artifact_dir(run_id) / "delta.safetensors"
    save_delta(method.export_model(model), path, base_model=config.model, labels=labels,
               method=config.method.to_dict(), extra=getattr(method, "export_info", lambda: {})())
    return path


def result_summary(result: RunResult) -> str:
    """A few lines for a terminal: status and the test accuracies."""
    lines = [f"run {result.run_id}: {result.status}" + (f" ({result.reason})" if result.reason else "")]
    if result.test:
        t = result.test
        lines.append("test accuracy: " + ", ".join(
            f"{k} {100 * t[k]:.1f}" for k in ("factual", "counterfactual", "combined", "pair") if t.get(k) is not None))
    lines.append(f"trainable parameters: {result.trainable_params:,} of {result.total_params:,}; wall time {result.wall_time_s:.1f} s")
    return "\n".join(lines)

