"""CAST as fixed in docs/cast-method.md: snapshot θ_ori, factual pass → θ_fac,
restore, counterfactual pass → θ_counter, mask = top-K of the criterion,
merge θ = θ_ori + M⊙(θ_fac − θ_ori) + α·M⊙(θ_counter − θ_fac)."""

from __future__ import annotations

from ...sparse.kspec import parse_k
from ...sparse.mask import cast_merge, select_mask
from ...sparse.stats import jaccard, per_layer_counts
from ...train.events import MaskComputed
from ..base import Method, head_names


# Stage names: the early-stopping stages of ``fit``; a checkpoint names the one it was written in.
PER_EPOCH = "cast"
FACTUAL_BRANCH = "factual branch"
COUNTERFACTUAL_BRANCH = "counterfactual branch"
REFINE = "refine"


class Cast(Method):
    stages = (PER_EPOCH, FACTUAL_BRANCH, COUNTERFACTUAL_BRANCH, REFINE)

    def prepare(self, model):
        cfg = self.config
        heads = head_names(model)
        for n, p in model.named_parameters():
            p.requires_grad_(not (cfg.eligible == "no_embeddings" and "embeddings" in n))
        self.eligible = [n for n, p in model.named_parameters() if p.requires_grad and cfg.counts_toward_k(n, n in heads)]
        eligible = set(self.eligible)
        self.eligible_count = sum(p.numel() for n, p in model.named_parameters() if n in eligible)
        self.k = parse_k(cfg.k).resolve(self.eligible_count)
        self.previous_mask = None
        return model

    def describe(self) -> dict:
        return {"k": self.k, "k_share": self.k / self.eligible_count, "eligible_params": self.eligible_count}

    # ---------------------------------------------------------------- planning
    def planned_steps(self, trainer) -> int:
        d, cfg = trainer.data, trainer.train_cfg
        passes = trainer.steps_in(d.factual) + trainer.steps_in(d.counterfactual)
        refine = self.config.refine_epochs * trainer.steps_in(d.union)
        if self.config.schedule == "two_stage":
            return cfg.max_epochs * passes + max(1, self.config.refine_epochs) * cfg.max_epochs * trainer.steps_in(d.union)
        return cfg.max_epochs * (passes + refine)

    def train(self, trainer) -> None:
        if self.config.schedule == "two_stage":
            self._train_two_stage(trainer)
        else:
            self._train_per_epoch(trainer)

    # --------------------------------------------------------------- per epoch
    def _train_per_epoch(self, trainer) -> None:
        d, cfg = trainer.data, trainer.train_cfg
        self.previous_mask = trainer.carried("mask")  # None unless resuming: the overlap with it continues
        # The schedule counts factual and refinement steps only: the counterfactual pass starts from θ_ori
        # with the optimiser and schedule restored to where the factual pass started (step 3), so it
        # replays the same learning rates instead of advancing them; each iteration moves the schedule once.
        trainer.new_optimizer(cfg.max_epochs * (trainer.steps_in(d.factual) + self.config.refine_epochs * trainer.steps_in(d.union)))
        trainer.fit(PER_EPOCH, lambda epoch: self.iteration(trainer), cfg.max_epochs)

    def iteration(self, trainer) -> dict:
        """One CAST iteration (steps 1–7 of docs/cast-method.md)."""
        d = trainer.data
        ori = trainer.snapshot()  # 1. θ_ori, optimiser and schedule position
        opt_ori = trainer.optimizer_state()
        fac_loss = trainer.train_pass(d.factual, "factual pass", pass_index=0)  # 2.
        fac = trainer.snapshot()
        opt_fac = trainer.optimizer_state()
        trainer.load(ori)  # 3. same start, same learning rates
        trainer.restore_optimizer(opt_ori)
        del opt_ori
        cf_loss = trainer.train_pass(d.counterfactual, "counterfactual pass", pass_index=1)
        trainer.phase("merge")
        masks = self.merge(trainer, ori, fac)  # 4.–5.
        del ori, fac
        self._restore_after_merge(trainer, opt_fac)  # 6.
        info = {"train_loss": fac_loss, "cf_loss": cf_loss}
        for r in range(self.config.refine_epochs):  # 7.
            info["refine_loss"] = trainer.train_pass(d.union, "refine (masked)", pass_index=2 + r, masks=masks)
        return info

    def merge(self, trainer, ori: dict, fac: dict) -> dict:
        """Steps 4–5 with θ_counter the current weights: select the mask, merge in place, report it."""
        params = dict(trainer.trainable())
        masks = self.select_mask(trainer, ori, fac, {n: p.detach() for n, p in params.items()})
        self.merge_masked(params, ori, fac, masks)
        self.report(trainer, masks)
        return masks

    def select_mask(self, trainer, ori: dict, fac: dict, counter: dict) -> dict:
        """Eq. 1: M = top-K of the criterion (|θ_counter − θ_fac| by default) over the eligible entries."""
        return select_mask(self.eligible, self.config.mask_criterion, ori, fac, counter, self.k,
                           self.config.mask_scope, device=trainer.device)

    def merge_masked(self, params: dict, ori: dict, fac: dict, masks: dict) -> None:
        """Eq. 2–3 in place: θ = θ_ori + M⊙(θ_fac − θ_ori) + α·M⊙(θ_counter − θ_fac); outside M, θ_ori."""
        for name, p in params.items():  # one tensor at a time on the device: snapshots may live on the host
            cast_merge(p.data, ori[name].to(p.device, non_blocking=True), fac[name].to(p.device, non_blocking=True),
                       p.data, self.config.alpha, masks.get(name))

    def report(self, trainer, masks: dict) -> None:
        """Report the mask (size, per layer, overlap with the previous one) and keep it for the checkpoint."""
        overlap = jaccard(self.previous_mask.values(), masks.values()) if self.previous_mask is not None else None
        self.previous_mask = masks
        trainer.carry["mask"] = masks  # saved with each checkpoint: a resumed run reports the same overlaps
        trainer.emit_mask(MaskComputed(trainer.epoch, self.k, self.eligible_count,
                                       per_layer_counts(self.eligible, list(masks.values())), overlap))

    def _restore_after_merge(self, trainer, opt_fac: dict) -> None:
        if self.config.optimizer_after_merge == "factual":
            trainer.restore_optimizer(opt_fac)
        else:
            trainer.reset_optimizer(opt_fac["scheduler"])

    # --------------------------------------------------------------- two stage
    def _train_two_stage(self, trainer) -> None:
        d, cfg = trainer.data, trainer.train_cfg
        at = trainer.resume_stage  # a resumed run skips the stages its checkpoint is past
        if at != REFINE:
            # θ0: a resumed run rebuilds its model from the same seed, so this snapshot is the same bits.
            theta0 = trainer.snapshot()
            if at != COUNTERFACTUAL_BRANCH:
                trainer.new_optimizer(cfg.max_epochs * trainer.steps_in(d.factual))
                trainer.fit(FACTUAL_BRANCH, lambda e: {"train_loss": trainer.train_pass(d.factual, FACTUAL_BRANCH)}, cfg.max_epochs)
                fac = trainer.snapshot()
                trainer.load(theta0)
            else:
                fac = trainer.carried("fac", trainer.snapshot_device)
            trainer.carry = {"fac": fac}
            trainer.new_optimizer(cfg.max_epochs * trainer.steps_in(d.counterfactual))
            trainer.fit(COUNTERFACTUAL_BRANCH,
                        lambda e: {"train_loss": trainer.train_pass(d.counterfactual, COUNTERFACTUAL_BRANCH, pass_index=1)}, cfg.max_epochs)
            trainer.carry = {}
            trainer.phase("merge")
            masks = self.merge(trainer, theta0, fac)
            del theta0, fac
        else:
            masks = self.previous_mask = trainer.carried("mask")
            trainer.carry = {"mask": masks}
        refine = max(1, self.config.refine_epochs)
        trainer.new_optimizer(refine * trainer.steps_in(d.union))
        trainer.fit(REFINE, lambda e: {"train_loss": trainer.train_pass(d.union, "refine (masked)", pass_index=2, masks=masks)}, refine)
