"""One run from a config: data, model, method, training, test, store, artifact.

A run flows one way: config → data, model and method → the trainer emits
events → sinks (the store writer, a progress bar, the studio). Every user
mistake is found before the run is written to the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Iterable

from ..config import LR_METHOD_DEFAULT, LR_SET_BY_USER, RunConfig, config_fingerprint
from ..errors import CastError, RunCancelled, TrainingDiverged
from ..train.events import CancelToken, Emitter, EpochEnded, LossReported, MaskComputed, Message, RunEnded, RunStarted, Sink


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
    """``store`` itself when it is a RunRecorder (a RunStore, a sweep's TrialRecorder), else a RunStore at that path."""
    from ..store import RunRecorder, RunStore

    return store if isinstance(store, RunRecorder) else RunStore(store)


@dataclass
class Prepared:
    """A run's data, model and method, built from its config and seed (the same bits every time)."""

    config: RunConfig
    device: object
    dataset: object
    model: object
    tokenizer: object
    method: object
    data: object
    trainable: int
    total: int
    trainable_bytes: int
    method_info: dict
    lr_source: str = LR_SET_BY_USER
    base: dict = field(default_factory=dict)  # the base model's identity (models.identity)


def with_resolved_lr(config: RunConfig, lr_source: str | None = None) -> tuple[RunConfig, str]:
    """``config`` with the learning rate it trains at written in (the method's recommended one
    when train.lr is 0), and why: 'user' or 'method default' (``lr_source`` given: a resumed
    run keeps what its first start recorded)."""
    lr, source = config.resolved_lr()
    resolved = dataclasses.replace(config, train=dataclasses.replace(config.train, lr=lr))
    return resolved, lr_source or source


def describe_lr_source(config: RunConfig, lr_source: str) -> str:
    """'method default: full's recommended' or 'set by the user (full recommends 5e-05)'."""
    method = config.method
    if lr_source == LR_METHOD_DEFAULT:
        return f"method default: {method.name}'s recommended"
    return f"set by the user; {method.name} recommends {type(method).recommended_lr:g}"


def prepare(config: RunConfig, emit: Emitter, dataset=None, lr_source: str | None = None) -> Prepared:
    """Load data and model and set the method up. Raises CastError on bad input; writes nothing.

    The prepared config carries the learning rate the run trains at (see ``with_resolved_lr``)."""
    from ..imports import import_transformers

    transformers = import_transformers()  # whole, before any data is read (see cast_engine.imports)

    from ..methods.registry import get_method
    from ..models import count_parameters, load_classifier
    from ..models.identity import base_model_identity
    from ..train.device import pick_device
    from .dataset import load_data
    from .prepare import tokenize_data
    from ..train.trainer import bf16_native

    config.validate()
    config, lr_source = with_resolved_lr(config, lr_source)
    emit(Message(f"learning rate {config.train.lr:g} ({describe_lr_source(config, lr_source)})"))
    device = pick_device(config.train.device)
    dataset = dataset or load_data(config.data)
    for note in dataset.notes:
        emit(Message(note, "warning"))
    transformers.set_seed(config.train.seed)
    model, tokenizer = load_classifier(config.model, dataset.labels)
    base = base_model_identity(config.model, model)
    method = get_method(config.method.name).create(config.method)
    model = method.prepare(model)
    trainable, total = count_parameters(model)
    trainable_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    method_info = method.describe()
    emit(Message(f"{config.method.name}: {trainable:,} of {total:,} parameters train ({100 * trainable / total:.3f} %)"
                 + "".join(f", {k} {v:,}" if isinstance(v, int) else f", {k} {v:.4g}" for k, v in method_info.items())))
    if config.train.bf16 and not bf16_native(device):
        emit(Message(f"bf16 autocast needs CUDA or a CPU with native bfloat16: training in fp32 on {device}", "warning"))
    data = tokenize_data(dataset, tokenizer, config)
    return Prepared(config, device, dataset, model, tokenizer, method, data, trainable, total, trainable_bytes,
                    method_info, lr_source, base)


def run(config: RunConfig, *, store=None, sinks: Iterable[Sink] = (), cancel: CancelToken | None = None,
        dataset=None, save_model: bool = True, checkpoint: bool | None = None) -> RunResult:
    """Train and evaluate one configuration; record it in the run store.

    ``store``: a RunStore, a path, or None for the default store. ``sinks``
    receive every event. ``cancel`` stops the run within one step.
    ``save_model=False`` keeps no weights (sweeps of many trials).
    ``checkpoint`` overrides ``config.train.checkpoint`` (epoch checkpoints
    for ``resume``). Raises CastError subclasses for bad input before
    anything is written; failures during training are recorded and returned
    with status 'failed'.
    """
    emit = Emitter(list(sinks))
    prepared = prepare(config, emit, dataset)  # bad data is refused before the store file is even created
    config = prepared.config  # with the learning rate it trains at
    store = open_store(store)
    checkpoint = config.train.checkpoint if checkpoint is None else checkpoint
    if store.disk_folder() is not None:  # a sweep's in-memory recorder writes nothing here
        check_disk_space(store.disk_folder(), needed_bytes(prepared, save_model, checkpoint), checkpoint)
    dataset = prepared.dataset
    run_id = store.create_run(
        config.to_dict(), method=config.method.name, task=dataset.task, variant=dataset.variant,
        regime="cad" if config.method.uses_both_branches else config.regime, model=config.model,
        seed=config.train.seed, name=config.name or config.default_name(), data_hashes=file_hashes(dataset.files),
        versions={**package_versions(), "base_model": prepared.base}, trainable_params=prepared.trainable, total_params=prepared.total,
        fingerprint=config_fingerprint(config.to_dict()),
    )
    return _train_and_record(prepared, store, run_id, emit, cancel, save_model, checkpoint)


def resume(run_id: int, *, store=None, sinks: Iterable[Sink] = (), cancel: CancelToken | None = None,
           save_model: bool = True) -> RunResult:
    """Continue a stopped run (interrupted, cancelled or failed) from its last epoch checkpoint.

    The run is rebuilt from its stored config and seed, its data files must
    still have the recorded hashes, and training goes on from the epoch after
    the checkpoint: with the same seed on a CPU it ends with the same metrics
    as a run that never stopped. Raises CastError when the run cannot be
    resumed, naming why; the run is then left as it was.
    """
    from ..store.codec import utc_now
    from .checkpoint import load_checkpoint
    from .folders import checkpoint_path

    store = open_store(store)
    row = store.get_run(run_id)
    problem = resume_problem(row)
    if problem:
        raise CastError(problem)
    checkpoint = load_checkpoint(checkpoint_path(store.artifact_dir(run_id, create=False)))
    if (checkpoint.store_id, checkpoint.run_id) != (store.store_id, run_id):
        raise CastError(f"the checkpoint of run {run_id} belongs to run {checkpoint.run_id or '?'} of store "
                        f"{checkpoint.store_id or '(none recorded)'}, not to this store ({store.store_id}): refused")
    config = RunConfig.from_dict(row["config"])
    emit = Emitter(list(sinks))
    prepared = prepare(config, emit, lr_source=checkpoint.lr_source)
    _check_same_data(run_id, row.get("data_hashes") or {}, file_hashes(prepared.dataset.files))
    _check_same_base(run_id, (row.get("versions") or {}).get("base_model"), prepared.base)
    store.reopen_run(run_id, epochs_kept=checkpoint.epoch, masks_kept=checkpoint.masks_done)
    stored, write = {(e["epoch"], e["stage"]) for e in store.epochs(run_id)}, StoreSink(store, run_id)
    for event in replayed_events(checkpoint, [], config.train.min_delta):
        if isinstance(event, EpochEnded) and (event.epoch, event.stage) not in stored:  # a kill between the checkpoint and its epoch's row loses no row
            write(event)
    checkpoint.resumes.append({"after_epoch": checkpoint.epoch, "at": utc_now()})
    return _train_and_record(prepared, store, run_id, emit, cancel, save_model, True, checkpoint)


def resume_problem(row: dict) -> str | None:
    """Why the stored run ``row`` cannot be resumed, or None when it can."""
    from ..store.status import RESUMABLE_STATUSES
    from .folders import checkpoint_path

    run_id = row["id"]
    if row["status"] == "running":
        return (f"run {run_id} is still running (process {row.get('pid')} on {row.get('host')}); "
                "stop it first, or wait: a run whose process died shows as interrupted")
    if row["status"] not in RESUMABLE_STATUSES:
        return f"run {run_id} is {row['status']}: only {', '.join(RESUMABLE_STATUSES)} runs can be resumed"
    folder = row.get("artifact_dir")
    if not folder or not checkpoint_path(Path(folder)).is_file():
        return (f"run {run_id} has no checkpoint to resume from: it stopped before its first epoch "
                "ended, or it ran without checkpoints (--no-checkpoint); start it again with `cast run`")
    return None


def replayed_events(checkpoint, masks: list[dict], min_delta: float) -> list:
    """The epochs (from the checkpoint's history) and masks (stored rows) a resumed run had
    before its checkpoint, as the events that reported them, in order; ``improved`` and
    ``best_epoch`` follow early stopping's rule (a gain over ``min_delta``)."""
    events, best = [], {}
    for mask in masks:
        events.append(MaskComputed(mask["epoch"], mask["kept"], mask["eligible"], mask.get("per_layer") or {},
                                   mask.get("jaccard")))
    for entry in checkpoint.history:
        metrics = {k: v for k, v in entry.items() if k not in ("epoch", "stage")}
        score, stage = metrics.get("val_combined") or 0.0, entry["stage"]
        improved = stage not in best or score > best[stage][0] + min_delta
        if improved:
            best[stage] = (score, entry["epoch"])
        events.append(EpochEnded(entry["epoch"], stage, metrics, improved, best[stage][1]))
    events += [LossReported(*report) for report in getattr(checkpoint, "losses", [])]
    # an epoch's losses, then its mask, then its scores
    events.sort(key=lambda e: (e.epoch, isinstance(e, MaskComputed) + 2 * isinstance(e, EpochEnded),
                               getattr(e, "step", 0)))
    return events


def _check_same_data(run_id: int, recorded: dict, now: dict) -> None:
    for path, digest in now.items():
        if path in recorded and recorded[path] != digest:
            raise CastError(f"data file {path} changed since run {run_id} started (sha256 {recorded[path][:12]}… "
                            f"then, {digest[:12]}… now): resuming would train on different data")
    missing = sorted(set(recorded) - set(now))
    if missing:
        raise CastError(f"run {run_id} was trained on {missing[0]}, which this config no longer reads")


def _check_same_base(run_id: int, recorded: dict | None, now: dict) -> None:
    from ..models.identity import base_model_difference

    difference = base_model_difference(recorded, now)
    if difference:
        raise CastError(f"run {run_id} cannot be resumed on another base model: {difference}")


def _train_and_record(prepared: Prepared, store, run_id: int, emit: Emitter, cancel: CancelToken | None,
                      save_model: bool, checkpoint: bool, resume_from=None) -> RunResult:
    """Train, test, save and record; every failure during training ends as a recorded status."""
    import torch

    from ..train.trainer import Trainer
    from .checkpoint import CheckpointFile
    from .folders import checkpoint_path

    config, method, data = prepared.config, prepared.method, prepared.data
    cancel = cancel or CancelToken()
    emit.essential.append(StoreSink(store, run_id))
    started = time.perf_counter()
    trainer = Trainer(prepared.model, prepared.tokenizer, config, data, prepared.device, emit, cancel)
    trainer.lr_source = prepared.lr_source  # kept in checkpoints: a resumed run says why it has its rate
    trainer.planned_steps = method.planned_steps(trainer)
    checkpoint_file = checkpoint_path(store.artifact_dir(run_id)) if checkpoint else None
    if checkpoint_file is not None:
        trainer.save_state = CheckpointFile(checkpoint_file, getattr(store, "store_id", None) or "", run_id)
    if resume_from is not None:
        trainer.load_state_dict(resume_from.trainer_state())
    emit(RunStarted(run_id, config.to_dict(), prepared.trainable, prepared.total, str(prepared.device),
                    dict(prepared.method_info)))
    if resume_from is not None:  # the displays show the whole run, not only what follows the resume
        for event in replayed_events(resume_from, store.masks(run_id), config.train.min_delta):
            emit.show(event)
    status, reason, test, artifact = "completed", None, None, None
    try:
        method.train(trainer)
        trainer.phase("test evaluation")
        test = trainer.evaluate(data.test, keep_predictions=True)
        for split, (predicted, gold) in test.pop("predictions").items():
            store.save_predictions(run_id, split, predicted, gold)
        if save_model:
            artifact = save_artifact(store, run_id, method, trainer.model, config, prepared.dataset.labels, prepared.base)
        save_final_mask(store, run_id, trainer.carry.get("mask"))  # small (1 bit an entry): sweeps keep it too
    except RunCancelled as exc:
        status, reason = "cancelled", str(exc)
    except KeyboardInterrupt:
        status, reason = "cancelled", "interrupted (Ctrl-C)"
    except TrainingDiverged as exc:
        status, reason = "failed", str(exc)
    except torch.cuda.OutOfMemoryError:
        status, reason = "failed", out_of_memory_advice(config, trainer.epoch)
        torch.cuda.empty_cache()  # give the memory back for the next run in this process (the studio's queue)
    except Exception as exc:  # recorded, then shown; the store stays consistent
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
    trainer.wait_for_checkpoint()  # the last checkpoint is on disk (or its failure reported) before the run ends
    wall = time.perf_counter() - started
    results = {**(test or {}), "epochs_completed": trainer.epoch, "steps_completed": trainer.step,
               "method_info": prepared.method_info, "lr_source": prepared.lr_source,
               "train_examples": trainer.examples, "train_time_s": trainer.train_s}
    if status != "completed":
        results.update(_progress_so_far(trainer))
    else:
        tested = trainer.best_epoch if config.train.restore_best else trainer.epoch
        results["best_val"] = _validation_at(trainer.history, tested)
    if trainer.resumes:
        results["resumed"] = trainer.resumes
        wall = time.perf_counter() - trainer.started  # training time of every process, not the time it lay dead
    store.finish_run(run_id, status, reason=reason, results=results, best_epoch=trainer.best_epoch,
                     wall_time_s=wall if trainer.resumes else None)
    if status == "completed" and checkpoint_file is not None:
        checkpoint_file.unlink(missing_ok=True)  # after the final row: a kill in between leaves a spare file, not a lost run
    emit(RunEnded(run_id, status, reason, test))
    return RunResult(run_id, status, reason, test, trainer.best_epoch, trainer.history,
                     prepared.trainable, prepared.total, wall, artifact)


def out_of_memory_advice(config: RunConfig, epoch: int) -> str:
    """Why the run failed and what to change, with the values it ran with."""
    cfg = config.train
    smaller = max(1, cfg.batch_size // 2)
    return (f"CUDA ran out of memory in epoch {max(epoch, 1)} with batch_size {cfg.batch_size} and max_length "
            f"{cfg.max_length}: try a smaller batch size (--batch-size {smaller}) or a shorter max length"
            + ("" if cfg.bf16 else ", or --bf16") + (", or --host-snapshots" if config.method.snapshots_weights and not cfg.host_snapshots else ""))


def _progress_so_far(trainer) -> dict:
    """A stopped run's best validation scores and last loss, so its record says how far it got."""
    found: dict = {}
    if trainer.history:
        best = max(trainer.history, key=lambda h: h.get("val_combined") or 0.0)
        found["best_val"] = {k[4:]: v for k, v in best.items() if k.startswith("val_") and isinstance(v, (int, float))}
        found["best_val"]["epoch"] = best["epoch"]
    if trainer.last_loss is not None:
        found["last_train_loss"] = trainer.last_loss
    return found


def _validation_at(history: list[dict], epoch: int | None) -> dict:
    """The validation accuracies of ``epoch`` (the weights that were tested): what a tuned protocol chooses on."""
    rows = [h for h in history if h["epoch"] == epoch]
    if not rows:
        return {}
    return {"epoch": epoch, **{k[4:]: v for k, v in rows[-1].items() if k.startswith("val_") and isinstance(v, (int, float))}}


def needed_bytes(prepared: Prepared, save_model: bool, checkpoint: bool) -> int:
    """Disk a run will write next to its store: checkpoints, the saved model, and room for the store's rows."""
    from .checkpoint import estimated_size

    needed = 64 * 2**20
    if checkpoint:
        needed += 2 * estimated_size(prepared.trainable_bytes, prepared.config.method.makes_masks)  # old and new coexist briefly
    if save_model:
        needed += prepared.trainable_bytes
    return needed


def check_disk_space(folder: Path, needed: int, checkpoint: bool) -> None:
    """CastError at the start of a run when ``folder``'s disk cannot hold what it will write."""
    import shutil

    free = shutil.disk_usage(folder).free
    if free < needed:
        raise CastError(f"not enough free disk space in {folder}: this run needs about {needed / 1e9:.2f} GB "
                        f"({'epoch checkpoints, ' if checkpoint else ''}the saved model, the run store) and "
                        f"{free / 1e9:.2f} GB is free; free some space or use --db on another disk"
                        + (", or pass --no-checkpoint" if checkpoint else ""))


def save_artifact(store, run_id: int, method, model, config: RunConfig, labels: list[str], base: dict | None = None) -> Path:
    """Save the trained weights as a sparse delta against the base model (``base``: its identity)."""
    from ..export.delta import save_delta

    path = store.artifact_dir(run_id) / "delta.safetensors"
    save_delta(method.export_model(model), path, base_model=config.model, labels=labels,
               method=config.method.to_dict(), extra=method.export_extra(), base=base,
               owner=(getattr(store, "store_id", None), run_id))
    return path


def save_final_mask(store, run_id: int, masks: dict | None) -> None:
    """Keep the mask of the kept weights (the best epoch's with ``restore_best``) of a sparse method
    (CAST, LT-SFT) next to the saved model."""
    if not masks:
        return
    from ..sparse.mask_file import MASK_FILE, save_mask

    save_mask(store.artifact_dir(run_id) / MASK_FILE, masks)


def result_summary(result: RunResult) -> str:
    """A few lines for a terminal: status and the test accuracies."""
    lines = [f"run {result.run_id}: {result.status}" + (f" ({result.reason})" if result.reason else "")]
    if result.test:
        t = result.test
        lines.append("test accuracy: " + ", ".join(
            f"{k} {100 * t[k]:.1f}" for k in ("factual", "counterfactual", "combined", "pair") if t.get(k) is not None))
    lines.append(f"trainable parameters: {result.trainable_params:,} of {result.total_params:,}; wall time {result.wall_time_s:.1f} s")
    return "\n".join(lines)

