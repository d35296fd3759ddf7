"""CAST Studio: the PySide6 application over cast_engine.

Importing this package does not import torch or transformers: they load on
the first run or model load, so the window shows quickly.
"""

__version__ = "0.1.0"
