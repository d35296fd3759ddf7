"""LT-SFT: phase 1 trains every parameter; the top-K of |θ_1 − θ_0| form the mask;
every parameter (head included) resets to θ_0; phase 2 trains the masked
entries, the head densely."""

from __future__ import annotations

from ...sparse.kspec import parse_k
from ...sparse.mask import select_mask
from ...sparse.stats import per_layer_counts
from ...train.events import MaskComputed
from ..base import Method, head_names


# Stage names: the early-stopping stages of ``fit``; a checkpoint names the one it was written in.
PHASE_1 = "phase 1 (full)"
PHASE_2 = "phase 2 (sparse)"


class LtSft(Method):
    stages = (PHASE_1, PHASE_2)

    def prepare(self, model):
        for n, p in model.named_parameters():
            p.requires_grad_(not (self.config.freeze_layernorm and "layernorm" in n.lower()))
        heads = head_names(model)
        self.eligible = [n for n, p in model.named_parameters() if self.config.counts_toward_k(n, n in heads)]
        count = sum(p.numel() for n, p in model.named_parameters() if n in set(self.eligible))
        self.k = parse_k(self.config.k).resolve(count)
        self.eligible_count = count
        return model

    def describe(self) -> dict:
        return {"k": self.k, "k_share": self.k / self.eligible_count, "eligible_params": self.eligible_count}

    def _epochs(self, trainer) -> int:
        return self.config.phase_epochs or trainer.train_cfg.max_epochs

    def planned_steps(self, trainer) -> int:
        data = trainer.data.baseline_set(trainer.config.regime)
        return 2 * self._epochs(trainer) * trainer.steps_in(data)

    def train(self, trainer) -> None:
        data = trainer.data.baseline_set(trainer.config.regime)
        epochs = self._epochs(trainer)
        if trainer.resume_stage != PHASE_2:  # a run resumed in phase 2 has its mask in the checkpoint
            # θ0: a resumed run rebuilds its model from the same seed, so this snapshot is the same bits.
            theta0 = trainer.snapshot()
            trainer.new_optimizer(epochs * trainer.steps_in(data))
            trainer.fit(PHASE_1, lambda e: {"train_loss": trainer.train_pass(data, "phase 1: full")}, epochs)
            trainer.phase("mask selection")
            theta1 = trainer.snapshot(self.eligible)
            masks = select_mask(self.eligible, "factual_magnitude", theta0, theta1, None, self.k, device=trainer.device)
            del theta1
            trainer.load(theta0)  # reset every parameter, head included
            del theta0
            trainer.emit_mask(MaskComputed(trainer.epoch, self.k, self.eligible_count, per_layer_counts(self.eligible, masks.values()), None))
        else:
            masks = trainer.carried("mask")
        trainer.carry = {"mask": masks}
        trainer.new_optimizer(epochs * trainer.steps_in(data))
        trainer.fit(PHASE_2, lambda e: {"train_loss": trainer.train_pass(data, "phase 2: sparse", masks=masks)}, epochs)
