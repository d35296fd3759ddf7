"""The `cast` command end to end on the tiny model and small CAD folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fixture_folders import fixture_folder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def cast(*args: str, db: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAST_DB": str(db)}
    return subprocess.run([sys.executable, "-m", "cast_engine.cli", *args], capture_output=True, text=True, env=env, timeout=600)


def test_run_list_show_export_on_an_nli_folder(tiny_model_dir, tmp_path):
    db = tmp_path / "runs.sqlite"
    cad_dir = fixture_folder("kaushik")  # a tiny folder of the Kaushik layout
    common = ["--data", str(cad_dir), "--task", "nli", "--variant", "RH1", "--model", str(tiny_model_dir),
              "--train-limit", "48", "--eval-limit", "24", "--max-epochs", "2", "--batch-size", "16",
              "--max-length", "64", "--seed", "1", "--device", "cpu"]
    done = cast("run", "--method", "cast", "--alpha", "0.05", "--k", "1%", *common, db=db)
    assert done.returncode == 0, done.stderr
    assert "epoch 1 [cast]" in done.stdout and "val combined" in done.stdout
    assert "mask: 10,079 of 1,007,949 entries kept" in done.stdout
    assert "test accuracy: factual" in done.stdout and "pair" in done.stdout
    assert "counterfactual pass" in done.stderr  # the progress bar names the phase
    baseline = cast("run", "--method", "full", "--regime", "nocad", *common, db=db)
    assert baseline.returncode == 0, baseline.stderr

    listed = cast("runs", db=db)
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert "completed" in lines[1] and "full" in lines[1] and "nocad" in lines[1]
    assert "cast" in lines[2] and "RH1" in lines[2]

    shown = cast("show", "1", db=db)
    assert shown.returncode == 0
    assert '"alpha": 0.05' in shown.stdout and "epochs:" in shown.stdout and "Jaccard with previous" in shown.stdout
    assert "test (best epoch" in shown.stdout
    assert "method resolved:" in shown.stdout and "k 10079" in shown.stdout and "k_share 0.01" in shown.stdout
    assert "learning rate 5e-05 (the method's recommended)" in shown.stdout  # no --lr given: CAST's own
    assert "training examples processed" in shown.stdout and "examples" in shown.stdout.split("epochs:")[1]

    out = tmp_path / "model"
    exported = cast("export", "1", "--format", "hf", "--out", str(out), db=db)
    assert exported.returncode == 0, exported.stderr
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}
    from cast_engine.export.delta import load_trained
    from cast_engine.store import RunStore

    with RunStore(db) as store:
        trained, _, _ = load_trained(store.artifact_dir(1) / "delta.safetensors")
    inputs = tokenizer(["A dog runs.", "A cat sleeps."], ["An animal moves.", "A dog barks."], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, trained(**inputs).logits)  # the run's own weights

    again = cast("export", "1", "--format", "delta", "--out", str(out), db=db)
    assert again.returncode == 2 and "already exists" in again.stderr  # never overwrites


def test_help_lists_every_option(tmp_path):
    done = cast("run", "--help", db=tmp_path / "runs.sqlite")
    assert done.returncode == 0, done.stderr
    for flag in ("--alpha", "--k", "--mask-criterion", "--schedule", "--regime", "--bf16", "--rank", "--reduction-factor"):
        assert flag in done.stdout
    assert "9.1%" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["run", "--data", "/nonexistent/cad"], "/nonexistent/cad"),
    (["run", "--method", "cast", "--alpha", "2"], "cast.alpha = 2.0 is out of range"),
    (["run", "--lr", "-1"], "train.lr = -1.0 is out of range"),
    (["run", "--method", "full", "--alpha", "0.1"], "--alpha does not apply to method full"),
    (["run", "--max-epochs", "two"], "max_epochs = 'two'"),
    (["show", "42"], "no run 42"),
    (["export", "42", "--out", "x"], "no run 42"),
])
def test_bad_input_exits_non_zero_with_a_message(args, message, tmp_path, tiny_model_dir):
    db = tmp_path / "runs.sqlite"
    if args[0] in ("show", "export"):  # commands that only read need an existing store
        from cast_engine.store import RunStore

        RunStore(db).close()
    extra = ["--model", str(tiny_model_dir)] if args[0] == "run" else []
    done = cast(*args, *extra, db=db)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_data_command_prints_statistics(cad_dir, tmp_path):
    done = cast("data", "--data", str(cad_dir), "--task", "nli", "--variant", "RP", db=tmp_path / "runs.sqlite")
    assert done.returncode == 0, done.stderr
    assert "1666" in done.stdout and "3332" in done.stdout
