"""The engine's error types. Every problem a user can cause ends in one of these,
with a message that names the bad value and, where there is one, the place."""

from __future__ import annotations

from pathlib import Path


class CastError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(CastError, ValueError):
    """A configuration value is out of range or of the wrong kind."""


class DataError(CastError):
    """A dataset file or folder cannot be used as given.

    ``path`` and ``line`` (1-based, counting the header as line 1) say where,
    when known; they are also part of the message.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.detail = message


class ModelError(CastError):
    """A model name, folder or checkpoint cannot be loaded."""


class StoreError(CastError):
    """The run store cannot be opened, written or does not hold what was asked."""


class RunCancelled(CastError):
    """Raised inside the training loop when the user asked to stop."""


class TrainingDiverged(CastError):
    """The loss became NaN or infinite."""
