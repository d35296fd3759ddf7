"""BitFit: only bias terms and the classification head train."""

from dataclasses import dataclass

from ...settings import MethodConfig
from ..registry import register


@dataclass
class BitFitConfig(MethodConfig):
    """Bias terms and the classification head train; everything else is frozen."""

    name = "bitfit"
    title = "BitFit"
    recommended_lr = 1e-3
    lr_grid = (1e-4, 4e-4, 1e-3)
    lr_source = ("BitFit (Ben Zaken et al., 2022) searches learning rates in {1e-4, 4e-4, 7e-4, 1e-3}; the grid "
                 "keeps three of them (7e-4 left out to keep three per method); recommended: 1e-3, the top of "
                 "their range, this project's choice for short budgets (only biases and the head train).")


register(BitFitConfig, "cast_engine.methods.bitfit.method:BitFit")
