"""Full fine-tuning: every parameter trains ("BERT" in the paper's tables)."""

from dataclasses import dataclass

from ...config import MethodConfig
from ..registry import register


@dataclass
class FullConfig(MethodConfig):
    """Plain fine-tuning of every parameter."""

    name = "full"


register(FullConfig, "cast_engine.methods.base:Method", "Full fine-tuning")
