"""K, the number of parameters a mask keeps: a count (10000, 1e7) or a share ("1%")."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class KSpec:
    """A parsed K: exactly one of ``count`` and ``fraction`` is set."""

    count: int | None = None
    fraction: float | None = None

    def resolve(self, eligible: int) -> int:
        """The number of entries to keep out of ``eligible``; ConfigError if too many."""
        if self.count is not None:
            k = self.count
        else:
            k = max(1, round(self.fraction * eligible))
        if k > eligible:
            raise ConfigError(f"k = {self} is larger than the {eligible:,} eligible parameters of this model")
        return k

    def __str__(self) -> str:
        if self.count is not None:
            return str(self.count)
        return f"{self.fraction * 100:g}%"


def parse_k(value: str | int | float) -> KSpec:
    """Parse K from '1%', '0.5 %', '10000', '1e7' or an int; ConfigError otherwise."""
    if isinstance(value, bool):
        raise ConfigError(f"k = {value!r} is not a count or a percentage")
    if isinstance(value, int):
        count = value
    else:
        text = str(value).strip()
        try:
            number = float(text[:-1] if text.endswith("%") else text)
        except ValueError:  # (ConfigError is a ValueError too: the range checks stay outside this block)
            raise ConfigError(f"k = {value!r} is not a count (e.g. 10000, 1e7) or a percentage (e.g. 1%)") from None
        if text.endswith("%"):
            if not (0 < number <= 100) or math.isnan(number):
                raise ConfigError(f"k = {value!r}: a percentage must be in (0, 100]")
            return KSpec(fraction=number / 100)
        if not math.isfinite(number):
            raise ConfigError(f"k = {value!r} is not a finite count")
        if not number.is_integer():
            raise ConfigError(f"k = {value!r}: a count must be a whole number (use '%' for a share)")
        count = int(number)
    if count < 1:
        raise ConfigError(f"k = {value!r} must be at least 1")
    return KSpec(count=count)
