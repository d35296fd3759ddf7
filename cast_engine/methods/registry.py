"""The method registry: a name → (config dataclass, implementation) table.

Configs are imported eagerly (they are plain dataclasses, needed for forms and
the CLI); implementations import torch and are loaded only when a run starts.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class MethodEntry:
    name: str
    config_cls: type
    implementation: str  # "module:Class", imported on first use
    title: str

    def create(self, config):
        """An instance of the method's implementation for ``config``."""
        module_name, class_name = self.implementation.split(":")
        return getattr(importlib.import_module(module_name), class_name)(config)


_REGISTRY: dict[str, MethodEntry] = {}


def register(config_cls: type, implementation: str, title: str) -> type:
    """Add a method; a second method with the same name is refused."""
    name = config_cls.name
    if not name:
        raise ValueError(f"{config_cls.__name__} has no name")
    if name in _REGISTRY:
        raise ValueError(f"a method named {name!r} is already registered ({_REGISTRY[name].implementation})")
    _REGISTRY[name] = MethodEntry(name, config_cls, implementation, title)
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


def method_names() -> list[str]:
    """Registered methods: the built-in ones in the paper's table order, then any others."""
    _load_builtin()
    order = {name: i for i, name in enumerate(BUILTIN)}
    return sorted(_REGISTRY, key=lambda name: order.get(name, len(order)))
