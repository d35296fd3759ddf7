"""BitFit: only bias terms and the classification head train."""

from dataclasses import dataclass

from ...config import MethodConfig
from ..registry import register


@dataclass
class BitFitConfig(MethodConfig):
    """Bias terms and the classification head train; everything else is frozen."""

    name = "bitfit"


register(BitFitConfig, "cast_engine.methods.bitfit.method:BitFit", "BitFit")
