"""LoRA via peft; exported models have the low-rank updates merged in."""

from __future__ import annotations

import copy

import torch

from ...errors import ConfigError
from ..base import Method


def _targets(model, names: list[str]) -> list[torch.nn.Linear]:
    return [m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n.split(".")[-1] in names]


class Lora(Method):
    def prepare(self, model):
        import peft

        cfg = self.config
        names = [t.strip() for t in cfg.target_modules.split(",") if t.strip()]
        targets = _targets(model, names)
        if not targets:
            raise ConfigError(f"lora.target_modules = {cfg.target_modules!r} matches no linear module of this model")
        rank = cfg.rank or self.auto_rank(model, targets)
        lora = peft.LoraConfig(
            task_type=peft.TaskType.SEQ_CLS,
            r=rank,
            lora_alpha=cfg.lora_alpha or 2 * rank,
            lora_dropout=cfg.dropout,
            target_modules=names,
        )
        self.rank = rank
        return peft.get_peft_model(model, lora)

    def describe(self) -> dict:
        return {"rank": self.rank}

    def auto_rank(self, model, targets) -> int:
        """The rank whose trainable share (with the head) is closest to target_share."""
        total = sum(p.numel() for p in model.parameters())
        head = sum(m.weight.numel() + (m.bias.numel() if m.bias is not None else 0)
                   for n, m in model.named_modules() if n.split(".")[-1] in ("classifier", "score"))
        per_rank = sum(m.in_features + m.out_features for m in targets)
        return max(1, round((self.config.target_share * total - head) / per_rank))

    def export_model(self, model):
        return copy.deepcopy(model).merge_and_unload()
