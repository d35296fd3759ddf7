"""LT-SFT (Ansell et al., 2021): full fine-tuning, then sparse fine-tuning of the K entries that moved most."""

from dataclasses import dataclass

from ...config import MethodConfig, param
from ...sparse.kspec import parse_k
from ..registry import register


@dataclass
class LtSftConfig(MethodConfig):
    """Lottery-ticket sparse fine-tuning."""

    name = "lt_sft"
    k: str = param("1%", "Entries the sparse phase trains: a count (10000, 1e7) or a share of the eligible parameters (1%).", check=parse_k)
    phase_epochs: int = param(0, "Epochs of each phase (full, then sparse); 0 uses the training max_epochs.", low=0, high=10000)
    freeze_layernorm: bool = param(True, "Freeze LayerNorm parameters in both phases, as the reference implementation does.")

    def name_tags(self) -> list[str]:
        return [f"k{str(self.k).replace(' ', '')}"]


register(LtSftConfig, "cast_engine.methods.lt_sft.method:LtSft", "LT-SFT")
