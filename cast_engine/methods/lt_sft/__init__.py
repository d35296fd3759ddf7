"""LT-SFT (Ansell et al., 2021): full fine-tuning, then sparse fine-tuning of the K entries that moved most."""

from dataclasses import dataclass

from ...settings import MethodConfig, param
from ...sparse.kspec import parse_k
from ..registry import register


@dataclass
class LtSftConfig(MethodConfig):
    """Lottery-ticket sparse fine-tuning."""

    name = "lt_sft"
    title = "LT-SFT"
    makes_masks = True
    snapshots_weights = True
    recommended_lr = 2e-5
    lr_grid = (2e-5, 5e-5, 1e-4)
    lr_source = ("LT-SFT (Ansell et al., 2022): the reference implementation (composable-sft) fine-tunes text "
                 "classifiers at 2e-5 in both phases (5 + 5 epochs); recommended: 2e-5. Both phases train as "
                 "BERT fine-tuning does, so the grid adds 5e-5 and 1e-4 above it (this project's choice).")
    k: str = param("1%", "Entries the sparse phase trains: a count (10000, 1e7) or a share of the eligible parameters (1%).", check=parse_k)
    phase_epochs: int = param(0, "Epochs of each phase (full, then sparse); 0 uses the training max_epochs.", low=0, high=10000)
    freeze_layernorm: bool = param(True, "Freeze LayerNorm parameters in both phases, as the reference implementation does.")

    def name_tags(self) -> list[str]:
        return [f"k{str(self.k).replace(' ', '')}"]

    def counts_toward_k(self, name: str, is_head: bool) -> bool:
        """The encoder's parameters that train in phase 1; the head trains densely in phase 2."""
        return not is_head and not (self.freeze_layernorm and "layernorm" in name.lower())


register(LtSftConfig, "cast_engine.methods.lt_sft.method:LtSft")
