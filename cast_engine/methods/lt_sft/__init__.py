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
    k: str = param("1%", "Entries the sparse phase trains: a count (10000, 1e7) or a share of the eligible parameters (1%).", check=parse_k)
    phase_epochs: int = param(0, "Epochs of each phase (full, then sparse); 0 uses the training max_epochs.", low=0, high=10000)
    freeze_layernorm: bool = param(True, "Freeze LayerNorm parameters in both phases, as the reference implementation does.")

    def counts_toward_k(self, name: str, is_head: bool) -> bool:
        """The encoder's parameters that train in phase 1; the head trains densely in phase 2."""
        return not is_head and not (self.freeze_layernorm and "layernorm" in name.lower())


register(LtSftConfig, "cast_engine.methods.lt_sft.method:LtSft")
