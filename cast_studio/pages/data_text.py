"""The data a run trains on, in one line: shown where runs are launched and in the Monitor's header."""

from __future__ import annotations

from cast_engine.config import DataConfig


def data_description(data: DataConfig | dict) -> str:
    """'/data/cad (nli, RH1, first 200 train / 50 dev/test originals)'; a dict is a stored config's data part."""
    if isinstance(data, dict):
        data = DataConfig(**{k: v for k, v in data.items() if k in DataConfig.__dataclass_fields__})
    limits = []
    if data.train_limit:
        limits.append(f"{data.train_limit} train")
    if data.eval_limit:
        limits.append(f"{data.eval_limit} dev/test")
    first = f", first {' / '.join(limits)} originals" if limits else ""
    revisions = f" + {data.revision_file}" if data.revision_file else ""
    return f"{data.data or 'demo'}{revisions} ({data.task}, {data.resolved_variant()}{first})"
