"""LoRA through Hugging Face ``peft``: low-rank updates and the head train."""

from dataclasses import dataclass

from ...settings import MethodConfig, param
from ..registry import register


@dataclass
class LoraConfig(MethodConfig):
    """LoRA (Hu et al., 2022) via peft."""

    name = "lora"
    title = "LoRA"
    rank: int = param(0, "LoRA rank r; 0 chooses the rank that trains about target_share of the parameters.", low=0, high=4096)
    target_share: float = param(0.01, "With rank 0: the share of parameters that should train (head included).", low=0.0, high=1.0, low_open=True)
    lora_alpha: float = param(0.0, "LoRA scaling alpha; 0 means 2 × rank.", low=0.0)
    dropout: float = param(0.1, "Dropout on the LoRA path.", low=0.0, high=1.0, high_open=True)
    target_modules: str = param("query,value", "Comma-separated names of the linear modules that get LoRA matrices.")


register(LoraConfig, "cast_engine.methods.lora.method:Lora")
