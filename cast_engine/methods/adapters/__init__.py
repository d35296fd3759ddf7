"""Houlsby bottleneck adapters through AdapterHub's ``adapters``."""

from dataclasses import dataclass

from ...settings import MethodConfig, param
from ..registry import register


@dataclass
class AdaptersConfig(MethodConfig):
    """Houlsby adapters after attention and after the feed-forward block of every layer."""

    name = "adapters"
    title = "Adapters (Houlsby)"
    table_title = "Adapters"
    reduction_factor: float = param(0.0, "Bottleneck reduction factor (hidden size / bottleneck size); 0 chooses the one that trains about target_share of the parameters.", low=0.0)
    target_share: float = param(0.01, "With reduction_factor 0: the share of parameters that should train (head included).", low=0.0, high=1.0, low_open=True)
    non_linearity: str = param("relu", "Activation inside the adapters.", choices=("relu", "gelu", "swish", "tanh"))


register(AdaptersConfig, "cast_engine.methods.adapters.method:Adapters")
