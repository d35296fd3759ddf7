"""BitFit: only bias terms and the classification head train."""

from dataclasses import dataclass

from ...settings import MethodConfig
from ..registry import register


@dataclass
class BitFitConfig(MethodConfig):
    """Bias terms and the classification head train; everything else is frozen."""

    name = "bitfit"
    title = "BitFit"


register(BitFitConfig, "cast_engine.methods.bitfit.method:BitFit")
