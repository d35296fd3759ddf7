"""What to evaluate a stored run on: the options of `cast evaluate` and the studio's
"Evaluate on…" form, and the loading of that data with the training readers.

No torch here: the CLI and the studio's forms read ``EvaluateConfig`` at start-up.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..config import DataConfig, RunConfig, param
from ..data.types import CadSplit
from ..errors import ConfigError

OWN_DATA = ""  # EvaluateConfig.data: the run's own data config


@dataclass
class EvaluateConfig:
    """Which paired data to evaluate a run's trained model on, and how."""

    data: str = param(OWN_DATA, "Paired data: a Kaushik-layout folder, a folder of train/dev/test files, a paired file "
                                "(CSV/TSV/JSONL/Parquet), 'demo' or 'upstream'. Empty: the run's own data.")
    variant: str = param("", "Dataset variant (sentiment: CAD or RAW; NLI: RAW, RP1, RP2, RH1, RH2, RP, RH, ALL). "
                             "Empty: the run's variant for its own data, else the data's default.")
    split: str = param("", "Split to evaluate on: train, dev or test. Empty: test of a folder; every pair of a "
                           "single file.", choices=("", "train", "dev", "test"))
    name: str = param("", "Name of the evaluation (what --eval NAME refers to). Empty: made from the data's name, "
                          "variant and split.")
    revision_file: str = param("", "With a file of originals in 'data': the file of revisions aligned row by row.")
    text_columns: str = param("", "User files: the text column, or two separated by a comma. Empty: detected.")
    label_column: str = param("", "User files: the label column. Empty: 'label'.")
    pair_column: str = param("", "User files: the pair id column. Empty: 'pair_id'.")
    device: str = param("auto", "Device: auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps.")
    batch_size: int = param(0, "Examples per forward pass; 0 uses the run's evaluation batch size.", low=0, high=65536)


@dataclass
class EvaluationData:
    """The examples an evaluation runs on, where they came from and the hash that identifies them."""

    split: CadSplit
    labels: list[str]
    task: str
    variant: str
    source: str
    files: list[Path]
    spec: dict
    default_name: str
    file_sha256: dict = field(default_factory=dict)

    @property
    def data_sha256(self) -> str:
        """One sha256 over the files' contents and the options that chose the examples
        (not the paths: the same file moved elsewhere is the same data)."""
        key = {"files": [self.file_sha256[str(p)] for p in self.files],
               **{k: v for k, v in self.spec.items() if k not in ("data", "revision_file")}}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def load_evaluation_data(cfg: EvaluateConfig, run: dict) -> EvaluationData:
    """Load the examples ``cfg`` names with the readers training uses, for stored run ``run``."""
    from ..data import load_cad
    from ..data.userfile import load_aligned_pairs, load_user_pairs
    from .runner import file_hashes

    task = run["task"]
    columns = [c.strip() for c in cfg.text_columns.split(",") if c.strip()] or None
    options = dict(text_columns=columns, label_column=cfg.label_column or None)
    spec = {"data": cfg.data, "task": task, "split": cfg.split, "text_columns": cfg.text_columns,
            "label_column": cfg.label_column, "pair_column": cfg.pair_column, "revision_file": cfg.revision_file}
    if cfg.data == OWN_DATA:
        data, name = _own_data(cfg, run)
    elif _is_single_file(cfg.data):
        if cfg.revision_file:
            if cfg.split:
                raise ConfigError(f"split = {cfg.split!r} does not apply to two aligned files: every row is evaluated")
            split, files = load_aligned_pairs(cfg.data, cfg.revision_file, task, **options)
            variant = cfg.variant.upper() or "CAD"
        else:
            split, variant, files = load_user_pairs(cfg.data, task, cfg.variant or None, split=cfg.split or None,
                                                    pair_column=cfg.pair_column or None, **options)
        stem = Path(cfg.data).stem
        data = (split, variant, files, f"file {Path(cfg.data).expanduser()}")
        name = f"{stem}-{cfg.split}" if cfg.split else stem
    else:
        dataset = load_cad(cfg.data, task, cfg.variant or None, pair_column=cfg.pair_column or None, **options)
        split_name = cfg.split or "test"
        data = (dataset.split(split_name), dataset.variant, dataset.files, f"{dataset.source}, split {split_name}")
        folder = Path(cfg.data).name if cfg.data.strip().lower() not in ("demo", "upstream") else cfg.data.strip().lower()
        name = f"{folder}-{dataset.variant}-{split_name}"
    split, variant, files, source = data
    if not split.factual:
        raise ConfigError(f"{source} has no examples to evaluate on")
    spec["variant"] = variant
    from ..data.types import labels_for

    found = EvaluationData(split, labels_for(task), task, variant, source, list(files), spec, cfg.name or name)
    found.file_sha256 = file_hashes(found.files)
    return found


def _own_data(cfg: EvaluateConfig, run: dict) -> tuple[tuple, str]:
    """The run's own data config (its limits included), another split or variant if asked."""
    from .dataset import load_data

    data_cfg: DataConfig = RunConfig.from_dict(run["config"]).data
    if cfg.variant:
        data_cfg.variant = cfg.variant
    for option in ("revision_file", "text_columns", "label_column", "pair_column"):
        if getattr(cfg, option):
            raise ConfigError(f"{option} applies to other data (--data); the run's own data keeps its own {option}")
    dataset = load_data(data_cfg)
    split_name = cfg.split or "test"
    name = split_name if not cfg.variant else f"{dataset.variant}-{split_name}"
    source = f"the run's data ({dataset.source}), split {split_name}"
    return (dataset.split(split_name), dataset.variant, dataset.files, source), name


def _is_single_file(data: str) -> bool:
    if data.strip().lower() in ("demo", "upstream"):
        return False
    return Path(data).expanduser().is_file()
