"""CAST: Counterfactual Augmented Sparse Tuning (the method this project exists for)."""

from dataclasses import dataclass

from ...settings import MethodConfig, param
from ...sparse.kspec import parse_k

from ..registry import register

MASK_CRITERIA = ("disagreement", "factual_magnitude", "joint_magnitude")


@dataclass
class CastConfig(MethodConfig):
    """Train a factual and a counterfactual copy each iteration, keep the K entries
    where they disagree most, roll everything else back, mix with α."""

    name = "cast"
    title = "CAST"
    uses_both_branches = True
    makes_masks = True
    snapshots_weights = True
    recommended_lr = 5e-5
    lr_grid = (2e-5, 5e-5, 1e-4)
    lr_source = ("CAST trains the whole model, so as BERT fine-tuning (Devlin et al., 2019: 5e-5, 3e-5, 2e-5); "
                 "recommended: 5e-5. The CAST paper trains BERT-base at 1e-5 with batch 128 for up to 100 "
                 "epochs. The grid adds 1e-4 above Devlin et al.'s range (this project's choice): each "
                 "iteration keeps only K entries of its update, so a larger step may pay.")
    alpha: float = param(0.05, "α: how much of the counterfactual update enters the masked entries (Eq. 3); 0 keeps the factual update only.", low=0.0, high=1.0)
    k: str = param("9.1%", "K, the entries the mask keeps: a count (10000, 1e7) or a share of the eligible parameters (9.1% ≈ the paper's best, 10^7 on BERT-base).", check=parse_k)
    eligible: str = param("all", "Parameters the mask may select. all: every one (embeddings, LayerNorm, head); no_embeddings: embeddings frozen; encoder_only: the head is left out of the mask and trains densely.", choices=("all", "no_embeddings", "encoder_only"))
    mask_scope: str = param("global", "global: the K largest scores over all eligible tensors; per_tensor: K split in proportion to tensor size.", choices=("global", "per_tensor"))
    mask_criterion: str = param("disagreement", "disagreement: |θ_counter − θ_fac| (the paper); factual_magnitude: |θ_fac − θ_ori| (as LT-SFT ranks); joint_magnitude: |θ_fac − θ_ori| + |θ_counter − θ_ori|.", choices=MASK_CRITERIA)
    schedule: str = param("per_epoch", "per_epoch: passes, mask and merge every epoch (paper §3.1); two_stage: each branch trains to early stopping from the pretrained weights, one mask and merge, then masked refinement.", choices=("per_epoch", "two_stage"))
    optimizer_after_merge: str = param("factual", "Optimiser state after the merge: factual (continue from the factual pass) or reset.", choices=("factual", "reset"))
    refine_epochs: int = param(0, "Epochs of masked training on originals and revisions after each merge (two_stage: at least 1 is run).", low=0, high=1000)

    def name_tags(self) -> list[str]:
        return [f"a{self.alpha:g}", f"k{str(self.k).replace(' ', '')}"]

    def counts_toward_k(self, name: str, is_head: bool) -> bool:
        """all: every parameter; no_embeddings: not the (frozen) embeddings; encoder_only: not the head."""
        if self.eligible == "no_embeddings":
            return "embeddings" not in name
        return not (self.eligible == "encoder_only" and is_head)


register(CastConfig, "cast_engine.methods.cast.method:Cast")
