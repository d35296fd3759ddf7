"""Config building blocks: fields with help text and limits, and the data, training and method settings.

The CLI's options and the studio's forms are built from these fields, so a
default, a limit or a help text is written once, here. This module imports
neither torch nor Qt, nor any method: methods build their configs on it
(``MethodConfig``), and ``cast_engine.config`` puts a run's config together.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from .errors import ConfigError


def param(
    default: Any,
    help: str,
    *,
    choices: tuple | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    check: Callable[[Any], Any] | None = None,
    label: str | None = None,
) -> Any:
    """A dataclass field with help text and the limits its values must meet.

    ``check`` is called with the value and raises ``ConfigError`` (or
    ``ValueError``) for a bad one. ``low``/``high`` bound numbers (inclusive
    unless ``*_open``).
    """
    meta = {
        "help": help,
        "choices": choices,
        "low": low,
        "high": high,
        "low_open": low_open,
        "high_open": high_open,
        "check": check,
        "label": label,
    }
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def field_help(cls_or_obj: Any, name: str) -> str:
    """The help text of one config field."""
    return {f.name: f for f in dataclasses.fields(cls_or_obj)}[name].metadata.get("help", "")


def check_value(owner: str, f: dataclasses.Field, value: Any) -> None:
    """Raise ConfigError when ``value`` is not allowed for field ``f``."""
    meta = f.metadata
    name = f"{owner}.{f.name}" if owner else f.name
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{name} = {value!r} is not one of {', '.join(map(str, meta['choices']))}")
    if meta.get("low") is not None or meta.get("high") is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ConfigError(f"{name} = {value!r} is not a number")
        low, high = meta.get("low"), meta.get("high")
        if low is not None and (value < low or (meta["low_open"] and value == low)):
            raise ConfigError(f"{name} = {value!r} is out of range: it must be {'>' if meta['low_open'] else '>='} {low}")
        if high is not None and (value > high or (meta["high_open"] and value == high)):
            raise ConfigError(f"{name} = {value!r} is out of range: it must be {'<' if meta['high_open'] else '<='} {high}")
    if meta.get("check") is not None:
        try:
            meta["check"](value)
        except ConfigError:
            raise
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{name} = {value!r}: {exc}") from None


def validate_fields(obj: Any, owner: str = "") -> None:
    """Check every field of a config dataclass against its limits."""
    for f in dataclasses.fields(obj):
        if f.metadata.get("help") is not None:
            check_value(owner, f, getattr(obj, f.name))


def coerce(f: dataclasses.Field, text: str) -> Any:
    """Turn a string (from a command line or a form) into the field's type."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "bool":
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if kind == "int":
            value = float(text)
            if not value.is_integer():
                raise ValueError("expected a whole number")
            return int(value)
        if kind == "float":
            return float(text)
    except ValueError as exc:
        raise ConfigError(f"{f.name} = {text!r}: {exc}") from None
    return text


def from_dict(cls: type, data: dict, owner: str = "") -> Any:
    """Build config ``cls`` from a dict; unknown keys are dropped with a warning."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        warnings.warn(f"ignoring unknown {owner or cls.__name__} settings: {', '.join(unknown)}", stacklevel=2)
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class DataConfig:
    """Which CAD data to train and evaluate on."""

    data: str = param("demo", "Dataset: 'demo' (bundled), 'upstream' (download the Kaushik et al. CAD files), a Kaushik-layout folder, a paired file (CSV/TSV/JSONL/Parquet) or a folder of train/dev/test files.")
    task: str = param("sentiment", "Task: sentiment (one text) or nli (premise and hypothesis).", choices=("sentiment", "nli"))
    variant: str = param("", "Dataset variant. Sentiment: CAD or RAW. NLI: RAW, RP1, RP2, RH1, RH2, RP, RH, ALL. Empty: CAD for sentiment, RH1 for NLI.")
    revision_file: str = param("", "With a file of originals in 'data': the file of revisions aligned row by row.")
    text_columns: str = param("", "User files: the text column, or two separated by a comma for sentence pairs. Empty: detected.")
    label_column: str = param("", "User files: the label column. Empty: 'label'.")
    pair_column: str = param("", "User files: the pair id column. Empty: 'pair_id'.")
    train_limit: int = param(0, "Use only the first N factual training examples (and their revisions); 0 uses all.", low=0)
    eval_limit: int = param(0, "Use only the first N factual dev and test examples (and their revisions); 0 uses all.", low=0)

    def resolved_variant(self) -> str:
        return self.variant or ("CAD" if self.task == "sentiment" else "RH1")

    def with_absolute_paths(self) -> "DataConfig":
        """A copy whose local files are named by absolute path, so a stored run or sweep
        (and `cast resume`) finds them from any folder."""
        return dataclasses.replace(self, data=absolute_data(self.data),
                                   revision_file=absolute_data(self.revision_file) if self.revision_file else "")


def is_keyword_source(data: str) -> bool:
    """Whether ``data`` names bundled or downloaded data ('demo', 'upstream') rather than a path."""
    return data.strip().lower() in ("demo", "upstream")


def absolute_data(data: str) -> str:
    """A local data path made absolute (so a sweep means the same from any folder or host);
    'demo', 'upstream' and URLs stay as they are."""
    from pathlib import Path

    if not data.strip():
        return data  # '' is refused by the loader, never taken as the current folder
    path = Path(data).expanduser()
    return str(path.resolve()) if not is_keyword_source(data) and path.exists() else data


# ----------------------------------------------------------------------- training

@dataclass
class TrainConfig:
    """How to train: optimiser, schedule, batching, stopping, device."""

    optimizer: str = param("adamw", "Optimiser: adamw (decoupled weight decay) or adam.", choices=("adamw", "adam"))
    lr: float = param(0.0, "Learning rate (peak; decays linearly to zero over max_epochs); 0 uses the method's recommended learning rate, from its own paper. The run records which rate it used and why.", low=0.0, high=1.0)
    weight_decay: float = param(0.0, "Weight decay (decoupled for adamw).", low=0.0, high=1.0)
    warmup_ratio: float = param(0.0, "Share of the planned steps spent warming the learning rate up from zero.", low=0.0, high=1.0, high_open=True)
    batch_size: int = param(32, "Training batch size.", low=1, high=65536)
    eval_batch_size: int = param(128, "Evaluation batch size.", low=1, high=65536)
    max_length: int = param(128, "Longest input in tokens; longer inputs are truncated. Batches are padded only to their longest member.", low=8, high=8192)
    max_epochs: int = param(3, "Most epochs (CAST: iterations) to train.", low=1, high=10000)
    patience: int = param(10, "Stop after this many epochs without a validation improvement larger than min_delta.", low=1, high=10000)
    min_delta: float = param(0.001, "Smallest gain in validation accuracy (0-1) that counts as an improvement.", low=0.0, high=1.0)
    restore_best: bool = param(True, "At the end, restore the weights of the epoch with the best validation accuracy.")
    grad_clip: float = param(1.0, "Clip the gradient norm to this value; 0 turns clipping off.", low=0.0)
    device: str = param("auto", "Device: auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps.")
    group_by_length: bool = param(True, "Batch examples of similar length together (in a seeded random order, as Hugging Face's group_by_length): less padding, faster epochs.")
    bf16: bool = param(False, "Use bfloat16 autocast on CUDA, and on CPUs with native bfloat16 (AVX512-BF16 or AMX); ignored elsewhere.")
    compile: bool = param(False, "torch.compile the model (in place, names kept). Pays on CUDA for long runs; the first steps wait for the compiler (a minute or more).")
    unpadded: bool = param(False, "Run BERT's layers on the real tokens only (padding removed) with variable-length fused attention: the same results as the padded path up to rounding, faster on CUDA when batches hold padding. BERT classifiers without adapters or LoRA.")
    host_snapshots: bool = param(False, "On CUDA, keep CAST's and LT-SFT's weight snapshots in pinned host memory instead of on the GPU: saves twice the parameter bytes of GPU memory, costs host copies every iteration. Optimiser snapshots always live on the host, copied while the GPU computes.")
    checkpoint: bool = param(True, "Save a checkpoint after every epoch (weights, optimiser, schedule, random state) in the run's artifact folder, so `cast resume RUN` continues a crashed or stopped run; deleted when the run completes.")
    log_every: int = param(10, "Report the training loss every N steps.", low=1)
    seed: int = param(1, "Random seed: initialisation, dropout and batch order.", low=0, high=2**31 - 1)


# ------------------------------------------------------------------------ methods

#: Why a run trains at its learning rate (recorded in its results as ``lr_source``).
LR_SET_BY_USER = "user"
LR_METHOD_DEFAULT = "method default"


@dataclass
class MethodConfig:
    """Base of every method's config, and the facts about the method that need no torch.

    Subclasses set ``name`` and ``title``; the other facts default to a plain
    fine-tuning method. Everything outside the method's folder (CLI, studio,
    tables, checkpoints) reads these instead of keeping its own list.
    """

    name: ClassVar[str] = ""
    #: Shown in forms and lists; ``table_title`` (default: title) in tables and the monitor.
    title: ClassVar[str] = ""
    table_title: ClassVar[str] = ""
    #: Whether the method trains on counterfactuals by construction (CAST).
    uses_both_branches: ClassVar[bool] = False
    #: Whether the method selects sparse masks (reports MaskComputed; its checkpoints hold a mask; K applies).
    makes_masks: ClassVar[bool] = False
    #: Whether the method keeps weight snapshots while training (``train.host_snapshots`` moves them to the host).
    snapshots_weights: ClassVar[bool] = False
    #: The learning rate a run uses when the user sets none (train.lr = 0). Required: the
    #: registry refuses a method without one, because one learning rate for every method
    #: makes the parameter-efficient ones look broken.
    recommended_lr: ClassVar[float] = 0.0
    #: The learning rates the tuned protocol tries (picked by validation accuracy).
    lr_grid: ClassVar[tuple[float, ...]] = ()
    #: Where recommended_lr and lr_grid come from, in a sentence (help text of the CLI and studio).
    lr_source: ClassVar[str] = ""

    @classmethod
    def display_title(cls) -> str:
        """The title in tables and the monitor."""
        return cls.table_title or cls.title or cls.name

    def counts_toward_k(self, name: str, is_head: bool) -> bool:
        """Whether parameter ``name`` (``is_head``: of the classification head) is among the
        entries K is counted from. Used by the method and by the studio's K hint (no torch)."""
        return True

    def to_dict(self) -> dict:
        return {"name": self.name, **dataclasses.asdict(self)}

    def name_tags(self) -> list[str]:
        """Short tags of the settings that tell two runs of this method apart in a run's default name
        (CAST: ['a0.05', 'k1e5']); none by default."""
        return []
