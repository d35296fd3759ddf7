"""Full fine-tuning: every parameter trains ("BERT" in the paper's tables)."""

from dataclasses import dataclass

from ...settings import MethodConfig
from ..registry import register


@dataclass
class FullConfig(MethodConfig):
    """Plain fine-tuning of every parameter."""

    name = "full"
    title = "Full fine-tuning"
    recommended_lr = 5e-5
    lr_grid = (2e-5, 3e-5, 5e-5)
    lr_source = ("BERT fine-tuning (Devlin et al., 2019, appendix A.3): learning rates 5e-5, 3e-5, 2e-5 "
                 "(Adam, batch 16 or 32, 2-4 epochs); recommended: 5e-5, the largest, as short budgets and "
                 "small models such as MiniLM need it.")


register(FullConfig, "cast_engine.methods.base:Method")
