"""The final mask kept with CAST and LT-SFT runs: packed bits in the run's folder, the atlas
(share per layer and per kind), Jaccard between runs, `cast export --format mask`, and the
CLI commands evaluate / show / pairs / compare --eval on the same real runs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from cast_engine.cli import main
from cast_engine.errors import StoreError
from cast_engine.sparse.mask_file import (
    KINDS,
    kind_of,
    load_mask,
    mask_atlas,
    mask_jaccard,
    run_mask,
    save_mask,
)
from cast_engine.store import RunStore


def test_kinds_of_bert_parameters():
    names = {
        "bert.encoder.layer.0.attention.self.query.weight": "query",
        "bert.encoder.layer.0.attention.self.key.weight": "key",
        "bert.encoder.layer.0.attention.self.value.weight": "value",
        "bert.encoder.layer.0.attention.output.dense.weight": "attention output",
        "bert.encoder.layer.0.attention.output.LayerNorm.bias": "LayerNorm",
        "bert.encoder.layer.1.intermediate.dense.weight": "feed-forward in",
        "bert.encoder.layer.1.output.dense.weight": "feed-forward out",
        "bert.encoder.layer.1.output.dense.bias": "biases",
        "bert.embeddings.word_embeddings.weight": "embeddings",
        "classifier.weight": "head",
    }
    assert {name: kind_of(name) for name in names} == names


def test_packed_bits_round_trip_and_jaccard(tmp_path):
    rng = np.random.default_rng(0)
    a = {"x.weight": rng.random((7, 13)) < 0.1, "y.bias": rng.random(5) < 0.5}
    path = save_mask(tmp_path / "mask.safetensors", {k: torch.from_numpy(v) for k, v in a.items()})
    back = load_mask(path)
    assert all(np.array_equal(back[k], a[k]) for k in a)
    assert mask_jaccard(back, a) == 1.0
    b = {"x.weight": a["x.weight"].copy()}  # covers fewer tensors: y.bias counts as not kept
    expected = a["x.weight"].sum() / (a["x.weight"].sum() + a["y.bias"].sum())
    assert mask_jaccard(a, b) == pytest.approx(expected)
    atlas = mask_atlas(a)
    assert atlas["kinds"]["biases"] == [int(a["y.bias"].sum()), 5]


@pytest.fixture(scope="module")
def sparse_runs(tmp_path_factory):
    """CAST (two seeds) and LT-SFT on the demo sentiment data, and a full fine-tuning run."""
    from engine_fixtures import build_tiny_model

    from cast_engine.config import DataConfig, RunConfig, TrainConfig
    from cast_engine.methods.registry import get_method
    from cast_engine.runs.runner import run

    root = tmp_path_factory.mktemp("masks")
    model = build_tiny_model(root / "tiny")
    db = root / "runs.sqlite"
    ids = {}
    for key, method, options, seed in (("cast1", "cast", {"alpha": 0.05, "k": "1%"}, 1),
                                       ("cast2", "cast", {"alpha": 0.05, "k": "1%"}, 2),
                                       ("lt_sft", "lt_sft", {"k": "1%"}, 1), ("full", "full", {}, 1)):
        config = RunConfig(data=DataConfig(data="demo", task="sentiment", eval_limit=12),
                           train=TrainConfig(max_epochs=1, batch_size=16, max_length=32, device="cpu", lr=1e-3, seed=seed),
                           method=get_method(method).config_cls(**options), model=str(model))
        result = run(config, store=db)
        assert result.status == "completed", result.reason
        ids[key] = result.run_id
    return db, ids


def test_the_final_mask_is_kept_with_the_run_and_matches_its_last_mask_row(sparse_runs):
    db, ids = sparse_runs
    with RunStore(db) as store:
        for key in ("cast1", "lt_sft"):
            mask = run_mask(store, ids[key])
            last = store.masks(ids[key])[-1]
            atlas = mask_atlas(mask)
            assert sum(v[0] for v in atlas["kinds"].values()) == last["kept"]
            assert sum(v[1] for v in atlas["kinds"].values()) == last["eligible"]
            assert {layer: v for layer, v in atlas["layers"].items()} == {k: list(v) for k, v in last["per_layer"].items()}
            assert list(atlas["kinds"]) == [k for k in KINDS if k in atlas["kinds"]]
        with pytest.raises(StoreError, match="has no saved mask"):
            run_mask(store, ids["full"])
        same = mask_jaccard(run_mask(store, ids["cast1"]), run_mask(store, ids["cast1"]))
        seeds = mask_jaccard(run_mask(store, ids["cast1"]), run_mask(store, ids["cast2"]))
    assert same == 1.0 and 0.0 < seeds < 1.0


def test_export_mask_and_the_mask_command(sparse_runs, tmp_path, capsys):
    db, ids = sparse_runs
    out = tmp_path / "mask"
    assert main(["--db", str(db), "export", str(ids["cast1"]), "--format", "mask", "--out", str(out)]) == 0
    from safetensors.torch import load_file

    tensors = load_file(str(out / "mask.safetensors"))
    with RunStore(db) as store:
        last = store.masks(ids["cast1"])[-1]
    assert all(t.dtype == torch.bool for t in tensors.values())
    assert sum(int(t.sum()) for t in tensors.values()) == last["kept"]
    capsys.readouterr()
    assert main(["--db", str(db), "mask", str(ids["cast1"]), str(ids["lt_sft"])]) == 0
    printed = capsys.readouterr().out
    assert f"final mask keeps {last['kept']:,} of {last['eligible']:,}" in printed
    assert "per kind: query" in printed and f"Jaccard overlap of runs {ids['cast1']} and {ids['lt_sft']}: 0." in printed


def test_cli_evaluate_show_pairs_and_compare_on_an_evaluation(sparse_runs, tmp_path, capsys, table_writer):
    db, ids = sparse_runs
    rows = []
    for i in range(5):
        rows += [{"pair_id": i, "label": "Positive", "text": f"great film {i}"},
                 {"pair_id": i, "label": "Negative", "text": f"awful film {i}"}]
    path = table_writer("contrast.tsv", rows)
    a, b = ids["cast1"], ids["full"]
    assert main(["--db", str(db), "evaluate", str(a), str(b), "--data", str(path), "--name", "contrast"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("evaluation 'contrast'") == 2 and "5 originals, 5 revisions, 5 pairs" in printed
    assert main(["--db", str(db), "evaluate", str(a), "--data", str(path), "--name", "contrast"]) == 0
    assert "stored earlier: same run, same data" in capsys.readouterr().out
    assert main(["--db", str(db), "show", str(a)]) == 0
    assert "evaluations:\n  contrast: factual" in capsys.readouterr().out
    csv_path = tmp_path / "ledger.csv"
    assert main(["--db", str(db), "pairs", str(a), "--vs", str(b), "--eval", "contrast", "--csv", str(csv_path)]) == 0
    printed = capsys.readouterr().out
    assert "5 pairs" in printed and "McNemar's counts over 10 examples" in printed
    with csv_path.open(newline="") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == 5 and written[0]["original"] == "great film 0" and written[0]["ledger"]
    assert main(["--db", str(db), "compare", "--a", str(a), "--b", str(b), "--eval", "contrast", "--samples", "200"]) == 0
    assert "combined accuracy on evaluation 'contrast'" in capsys.readouterr().out
    assert main(["--db", str(db), "pairs", str(a), "--eval", "missing"]) == 2
    assert "has no evaluation named 'missing'; its evaluations: contrast" in capsys.readouterr().err
