"""The engine stays free of Qt and cheap to import."""

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_cast_engine_does_not_import_qt():
    loaded = _modules_after("import cast_engine, cast_engine.cli, cast_engine.config, cast_engine.store, cast_engine.data\n"
                            "from cast_engine.runs import runner; from cast_engine.train import trainer")
    assert not any(m.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "shiboken6") for m in loaded)


def test_import_cast_engine_is_light():
    loaded = _modules_after("import cast_engine\nfrom cast_engine.config import RunConfig\nRunConfig()")
    assert "torch" not in loaded and "transformers" not in loaded
