"""Full fine-tuning: every parameter trains ("BERT" in the paper's tables)."""

from dataclasses import dataclass

from ...settings import MethodConfig
from ..registry import register


@dataclass
class FullConfig(MethodConfig):
    """Plain fine-tuning of every parameter."""

    name = "full"
    title = "Full fine-tuning"


register(FullConfig, "cast_engine.methods.base:Method")
