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
    recommended_lr = 3e-4
    lr_grid = (3e-5, 3e-4, 3e-3)
    lr_source = ("Houlsby et al. (2019) sweep learning rates {3e-5, 3e-4, 3e-3} (with 3 or 20 epochs); the "
                 "grid is theirs; recommended: 3e-4, its middle (AdapterHub's examples use 1e-4).")
    reduction_factor: float = param(0.0, "Bottleneck reduction factor (hidden size / bottleneck size); 0 chooses the one that trains about target_share of the parameters.", low=0.0)
    target_share: float = param(0.01, "With reduction_factor 0: the share of parameters that should train (head included).", low=0.0, high=1.0, low_open=True)
    non_linearity: str = param("relu", "Activation inside the adapters.", choices=("relu", "gelu", "swish", "tanh"))

    def name_tags(self) -> list[str]:
        return [f"rf{self.reduction_factor:g}" if self.reduction_factor else f"share{self.target_share:g}"]


register(AdaptersConfig, "cast_engine.methods.adapters.method:Adapters")
