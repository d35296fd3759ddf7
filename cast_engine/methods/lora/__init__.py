"""LoRA through Hugging Face ``peft``: low-rank updates and the head train."""

from dataclasses import dataclass

from ...settings import MethodConfig, param
from ..registry import register


@dataclass
class LoraConfig(MethodConfig):
    """LoRA (Hu et al., 2022) via peft."""

    name = "lora"
    title = "LoRA"
    recommended_lr = 5e-4
    lr_grid = (1e-4, 5e-4, 1e-3)
    lr_source = ("LoRA (Hu et al., 2022, table 9) trains RoBERTa-base at 5e-4 (MNLI, SST-2, QQP, RTE) or 4e-4 "
                 "(the other GLUE tasks), with batch 16, 30-80 epochs and 6 % warm-up; recommended: 5e-4. The paper reports "
                 "the chosen rates, not a grid: 1e-4 and 1e-3 around it are this project's choice.")
    rank: int = param(0, "LoRA rank r; 0 chooses the rank that trains about target_share of the parameters.", low=0, high=4096)
    target_share: float = param(0.01, "With rank 0: the share of parameters that should train (head included).", low=0.0, high=1.0, low_open=True)
    lora_alpha: float = param(0.0, "LoRA scaling alpha; 0 means 2 × rank.", low=0.0)
    dropout: float = param(0.1, "Dropout on the LoRA path.", low=0.0, high=1.0, high_open=True)
    target_modules: str = param("query,value", "Comma-separated names of the linear modules that get LoRA matrices.")

    def name_tags(self) -> list[str]:
        return [f"r{self.rank}" if self.rank else f"share{self.target_share:g}"]


register(LoraConfig, "cast_engine.methods.lora.method:Lora")
