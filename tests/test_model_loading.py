"""Loading a model: the tokenizer is built once per thread and model, and never served stale."""

from __future__ import annotations

import json
import shutil
import threading

from cast_engine.models import load_classifier

LABELS = ["Negative", "Positive"]


def test_a_second_run_of_the_same_model_reuses_its_tokenizer(tiny_model_dir):
    _, first = load_classifier(str(tiny_model_dir), LABELS)
    _, second = load_classifier(str(tiny_model_dir), LABELS)
    assert second is first
    other = []
    thread = threading.Thread(target=lambda: other.append(load_classifier(str(tiny_model_dir), LABELS)[1]))
    thread.start()
    thread.join()
    assert other[0] is not first  # a fast tokenizer changes its settings per call: threads never share one
    assert other[0]("a short text")["input_ids"] == first("a short text")["input_ids"]


def test_a_changed_tokenizer_file_is_loaded_again(tiny_model_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    _, before = load_classifier(str(folder), LABELS)
    before.add_tokens(["counterfactualness"])
    before.save_pretrained(folder)
    _, after = load_classifier(str(folder), LABELS)
    assert after is not before
    assert after.convert_tokens_to_ids("counterfactualness") == len(before) - 1


def test_a_model_without_a_pad_token_is_told_its_pad_token_on_every_load(tiny_model_dir, tmp_path):
    folder = tmp_path / "no-pad"
    shutil.copytree(tiny_model_dir, folder)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        if path.exists():
            data = json.loads(path.read_text())
            data["pad_token"] = None
            path.write_text(json.dumps(data))
    data = json.loads((folder / "tokenizer.json").read_text())
    data["padding"] = None
    (folder / "tokenizer.json").write_text(json.dumps(data))
    for _ in range(2):  # the second load gets the kept tokenizer, which has its pad token already
        model, tokenizer = load_classifier(str(folder), LABELS)
        assert tokenizer.pad_token == tokenizer.unk_token
        assert model.config.pad_token_id == tokenizer.pad_token_id
