"""Bad values and names end in the engine's errors, name the culprit, and leave the store alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from cast_engine.config import RunConfig, TrainConfig
from cast_engine.errors import ConfigError, DataError, ModelError
from cast_engine.store import RunStore
from cast_engine.runs.runner import run


def _runs(store_path):
    if not store_path.exists():
        return 0
    with RunStore(store_path) as store:
        return len(store.list_runs())


@pytest.mark.parametrize("method, options, message", [
    ("cast", {"alpha": 1.5}, "cast.alpha = 1.5 is out of range"),
    ("cast", {"alpha": -0.1}, "cast.alpha = -0.1 is out of range"),
    ("cast", {"k": "lots"}, "k = 'lots' is not a count"),
    ("cast", {"mask_scope": "local"}, "cast.mask_scope = 'local' is not one of global, per_tensor"),
    ("lora", {"dropout": 1.0}, "lora.dropout = 1.0 is out of range"),
])
def test_method_values_out_of_range(tiny_config, store_path, method, options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        run(tiny_config(method, method_options=options), store=store_path)
    assert _runs(store_path) == 0


@pytest.mark.parametrize("train, message", [
    ({"lr": -1e-4}, "train.lr = -0.0001 is out of range"),  # 0 is allowed: the method's recommended rate
    ({"lr": 5.0}, "train.lr = 5.0 is out of range"),
    ({"lr": float("nan")}, "train.lr = nan is not a number"),
    ({"batch_size": 0}, "train.batch_size = 0 is out of range"),
    ({"device": "tpu"}, "device = 'tpu'"),
    ({"device": "cuda:7"}, "device = 'cuda:7'"),
])
def test_training_values_out_of_range(tiny_config, store_path, train, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        run(tiny_config("full", **train), store=store_path)
    assert _runs(store_path) == 0


def test_k_larger_than_the_eligible_parameters(tiny_config, store_path):
    with pytest.raises(ConfigError, match=r"k = 999999999 is larger than the 1,007,\d+ eligible parameters"):
        run(tiny_config("cast", method_options={"k": "999999999"}), store=store_path)
    assert _runs(store_path) == 0


def test_cast_refuses_a_variant_without_counterfactuals(tiny_config, store_path):
    with pytest.raises(ConfigError, match="needs counterfactuals, but variant is RAW"):
        run(tiny_config("cast", variant="RAW"), store=store_path)


def test_unknown_model(tiny_config, store_path, tmp_path):
    config = tiny_config("full")
    config.model = str(tmp_path / "no-such-model")
    with pytest.raises(ModelError, match="no-such-model.*no such folder"):
        run(config, store=store_path)
    (tmp_path / "not-a-model").mkdir()
    config.model = str(tmp_path / "not-a-model")
    with pytest.raises(ModelError, match="has no config.json"):
        run(config, store=store_path)
    assert _runs(store_path) == 0


def test_missing_data_file_keeps_earlier_runs(tiny_config, store_path, tmp_path):
    ok = run(tiny_config("full", max_epochs=1), store=store_path)
    assert ok.status == "completed"
    with pytest.raises(DataError, match="missing.csv"):
        run(tiny_config("full", data=str(tmp_path / "missing.csv")), store=store_path)
    with RunStore(store_path) as store:
        runs = store.list_runs()
        assert [r["id"] for r in runs] == [ok.run_id] and runs[0]["status"] == "completed"


def test_unknown_method_and_saved_config_with_unknown_keys():
    from cast_engine.methods.registry import get_method

    with pytest.raises(ConfigError, match="method = 'dropout' is not one of full, cast, bitfit, adapters, lora, lt_sft"):
        get_method("dropout")
    saved = RunConfig(train=TrainConfig(lr=1e-4)).to_dict()
    saved["train"]["from_the_future"] = 1
    with pytest.warns(UserWarning, match="from_the_future"):
        config = RunConfig.from_dict(saved)
    assert config.train.lr == 1e-4


def test_unknown_hub_id_fails_fast_when_the_hub_is_unreachable(tiny_config, store_path, monkeypatch):
    import time

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    config = tiny_config("full")
    config.model = "no-such-org/no-such-model"
    start = time.perf_counter()
    with pytest.raises(ModelError, match="'no-such-org/no-such-model'.*the Hub cannot be reached"):
        run(config, store=store_path)
    assert time.perf_counter() - start < 30
    assert _runs(store_path) == 0


def test_hub_id_loads_from_the_hugging_face_cache(tiny_model_dir, tmp_path, monkeypatch):
    """A model id resolves through the Hub cache (as after a first download), offline."""
    import shutil

    cache = tmp_path / "hub"
    snapshot = cache / "models--cast-tests--tiny-bert" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_model_dir, snapshot)
    (cache / "models--cast-tests--tiny-bert" / "refs").mkdir()
    (cache / "models--cast-tests--tiny-bert" / "refs" / "main").write_text("0" * 40)
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "1"}
    code = ("from cast_engine.models import load_classifier\n"
            "model, tok = load_classifier('cast-tests/tiny-bert', ['Negative', 'Positive'])\n"
            "print(model.config.num_labels, len(tok('a film')['input_ids']))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=str(Path(__file__).resolve().parents[1]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "4"]
