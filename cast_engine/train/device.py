"""Choosing and describing the compute device."""

from __future__ import annotations

import torch

from ..errors import ConfigError


def pick_device(spec: str = "auto") -> torch.device:
    """'auto' → CUDA, else MPS, else CPU; an explicit device must exist."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"device = {spec!r} is not a device name (auto, cpu, cuda, cuda:N, mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device = {spec!r}: no CUDA GPU is available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device = {spec!r}: there are only {torch.cuda.device_count()} CUDA devices")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device = {spec!r}: MPS is not available here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device = {spec!r} is not supported (auto, cpu, cuda, cuda:N, mps)")
    return device


def available_devices() -> list[dict]:
    """Devices that exist here, with name and memory where known (for the studio)."""
    found = []
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        props = torch.cuda.get_device_properties(i)
        found.append({"id": f"cuda:{i}", "name": props.name, "memory_bytes": props.total_memory})
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        found.append({"id": "mps", "name": "Apple GPU (MPS)", "memory_bytes": None})
    found.append({"id": "cpu", "name": "CPU", "memory_bytes": None})
    return found
