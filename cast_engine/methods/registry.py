"""The method registry: a name → (config dataclass, implementation) table.

Configs are imported eagerly (they are plain dataclasses, needed for forms and
the CLI); implementations import torch and are loaded only when a run starts.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class MethodEntry:
    name: str
    config_cls: type  # a MethodConfig subclass: the method's settings and its torch-free facts
    implementation: str  # "module:Class", imported on first use

    @property
    def title(self) -> str:
        return self.config_cls.title or self.name

    def implementation_class(self) -> type:
        """The method's ``Method`` subclass (imports torch)."""
        module_name, class_name = self.implementation.split(":")
        return getattr(importlib.import_module(module_name), class_name)

    def create(self, config):
        """An instance of the method's implementation for ``config``."""
        return self.implementation_class()(config)


_REGISTRY: dict[str, MethodEntry] = {}


def _check_learning_rates(config_cls: type) -> None:
    """ValueError unless the method says which learning rate it trains at, which it tunes over, and why."""
    where = f"method {config_cls.name!r} ({config_cls.__name__})"
    lr = getattr(config_cls, "recommended_lr", None)
    if not _positive(lr):
        raise ValueError(f"{where} has no recommended learning rate: set recommended_lr (got {lr!r}) to the rate "
                         "its own paper trains at, and say where it comes from in lr_source")
    grid = getattr(config_cls, "lr_grid", ())
    if not grid or not all(_positive(value) for value in grid):
        raise ValueError(f"{where}: lr_grid = {grid!r} must hold one or more positive learning rates")
    if not str(getattr(config_cls, "lr_source", "")).strip():
        raise ValueError(f"{where}: lr_source is empty: say where recommended_lr and lr_grid come from")


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 < value <= 1


def register(config_cls: type, implementation: str) -> type:
    """Add a method (its config class and ``"module:Class"`` of its implementation);
    a second method with the same name is refused, and so is one without a recommended
    learning rate, a learning-rate grid and their source."""
    name = config_cls.name
    if not name:
        raise ValueError(f"{config_cls.__name__} has no name")
    _check_learning_rates(config_cls)
    if name in _REGISTRY:
        raise ValueError(f"a method named {name!r} is already registered ({_REGISTRY[name].implementation})")
    _REGISTRY[name] = MethodEntry(name, config_cls, implementation)
    return config_cls


BUILTIN = ("full", "cast", "bitfit", "adapters", "lora", "lt_sft")  # the paper's table order


def _load_builtin() -> None:
    for name in BUILTIN:  # each module registers itself on import
        importlib.import_module(f"{__package__}.{name}")


def get_method(name: str) -> MethodEntry:
    """The registry entry for a method name; ConfigError naming the known ones otherwise."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"method = {name!r} is not one of {', '.join(method_names())}") from None


def method_title(name: str) -> str:
    """The title of a method in tables and the monitor; the name itself for an unknown one."""
    _load_builtin()
    entry = _REGISTRY.get(name)
    return entry.config_cls.display_title() if entry else name


def methods_where(fact: str) -> list[str]:
    """Registered methods whose config sets the boolean ``fact`` (``makes_masks``…), in table order."""
    return [name for name in method_names() if getattr(_REGISTRY[name].config_cls, fact)]


def method_names() -> list[str]:
    """Registered methods: the built-in ones in the paper's table order, then any others."""
    _load_builtin()
    order = {name: i for i, name in enumerate(BUILTIN)}
    return sorted(_REGISTRY, key=lambda name: order.get(name, len(order)))
