"""Hostile input by class: each ends in the engine's error naming the problem and the place, with no
traceback, no hang and nothing written. Cases are generated per class; a property test runs over them."""

from __future__ import annotations

import gzip
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cast_engine.config import DataConfig, RunConfig
from cast_engine.data import demo_file, load_cad
from cast_engine.errors import CastError, ConfigError, DataError, ModelError
from cast_engine.store import RunStore
from cast_engine.runs.dataset import load_data
from cast_engine.runs.runner import run

REPO = Path(__file__).resolve().parents[1]
DEMO_ROWS = [json.loads(line) for line in demo_file("sentiment").read_text(encoding="utf-8").splitlines()]
CSV_TEXT = "split,pair_id,role,label,text\n" + "".join(
    f"{r['split']},{r['pair_id']},{r['role']},{r['label']},\"{r['text']}\"\n" for r in DEMO_ROWS)


def cast(*args: str, db: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAST_DB": str(db)}
    return subprocess.run([sys.executable, "-m", "cast_engine.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


# ------------------------------------------------------------------ not a regular file


def _not_a_file(kind: str, folder: Path, name: str) -> tuple[Path, str]:
    """A path of ``kind`` that is not a readable regular file, and the words the error must use."""
    path = folder / name
    if kind == "fifo":
        os.mkfifo(path)
        return path, "is a FIFO"
    if kind == "dev-zero":
        path.symlink_to("/dev/zero")
        return path, "character device"
    if kind == "loop":
        path.symlink_to(folder / f"other-{name}")
        (folder / f"other-{name}").symlink_to(path)
        return path, "symbolic link loop"
    path.symlink_to(folder / "gone.csv")
    return path, "does not exist"


@pytest.mark.timeout(60)  # reading a FIFO or /dev/zero used to block or run out of memory
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "loop", "dangling"])
@pytest.mark.parametrize("role", ["data", "revision-file"])
def test_what_is_not_a_regular_file_is_refused_up_front(kind, role, tmp_path):
    if role == "data":
        path, words = _not_a_file(kind, tmp_path, "pairs.csv")
        call = lambda: load_cad(str(path), "sentiment")  # noqa: E731
    else:
        originals = tmp_path / "originals.csv"
        originals.write_text("text,label\n" + "".join(f"film {i},Positive\n" for i in range(6)))
        path, words = _not_a_file(kind, tmp_path, "revisions.csv")
        call = lambda: load_cad(str(originals), "sentiment", revision_file=str(path))  # noqa: E731
    with pytest.raises(DataError, match=words) as info:
        call()
    assert str(path) in str(info.value)


@pytest.mark.timeout(120)
def test_the_cli_refuses_a_fifo_without_hanging_or_writing(tmp_path):
    os.mkfifo(tmp_path / "pairs.csv")
    done = cast("run", "--data", str(tmp_path / "pairs.csv"), db=tmp_path / "store" / "runs.sqlite")
    assert done.returncode == 2 and "is a FIFO" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "store").exists()


# ------------------------------------------------------------------ tracebacks that escaped


def test_a_model_folder_without_a_tokenizer_or_with_damaged_weights(tiny_model_dir, tmp_path):
    import shutil

    from cast_engine.models import load_classifier

    bare = Path(shutil.copytree(tiny_model_dir, tmp_path / "bare"))
    for path in bare.iterdir():
        if path.name.startswith(("tokenizer", "vocab", "special_tokens")):
            path.unlink()
    with pytest.raises(ModelError, match="has no tokenizer files"):
        load_classifier(str(bare), ["Negative", "Positive"])
    rng = random.Random(3)
    for case in range(3):
        damaged = Path(shutil.copytree(tiny_model_dir, tmp_path / f"damaged{case}"))
        weights = (damaged / "model.safetensors").read_bytes()
        cut = rng.choice([len(weights) // 2, 7, rng.randrange(100, len(weights) - 1)])
        (damaged / "model.safetensors").write_bytes(weights[:cut])
        with pytest.raises(ModelError, match="could not be loaded.*damaged or incomplete") as info:
            load_classifier(str(damaged), ["Negative", "Positive"])
        assert str(damaged) in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder: permissions cannot be tested as root")
def test_an_unreadable_data_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.csv").write_text(CSV_TEXT)
    folder.chmod(0)
    try:
        with pytest.raises(DataError, match="permission denied"):
            load_cad(str(folder), "sentiment")
    finally:
        folder.chmod(0o755)


def _runs(store: RunStore, count: int) -> list[int]:
    return [store.create_run({"train": {"seed": i}}, method="full", task="sentiment", variant="CAD", regime="cad",
                             model="m", seed=i, name=f"run {i}") for i in range(count)]


@pytest.mark.parametrize("column", ["config", "results", "versions", "data_hashes"])
def test_one_corrupt_json_cell_hides_no_other_run(column, tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        ids = _runs(store, 3)
        for run_id in ids:
            store.finish_run(run_id, "completed", results={"combined": 0.5})
    with sqlite3.connect(path) as conn:
        # the run list's expression indexes refuse malformed JSON on write; a cell damaged on disk
        # (or in a store made before them) is what is left: take the indexes away to make one
        for (index,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '%json_extract%'").fetchall():
            conn.execute(f"DROP INDEX {index}")
        conn.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", ('{"cut in the midd', ids[1]))
    with RunStore(path) as store:
        listed = store.list_runs()
        assert sorted(r["id"] for r in listed) == ids
        damaged = store.get_run(ids[1])
        assert damaged["unreadable"] == [column] and damaged[column] == {}
        assert "unreadable" not in store.get_run(ids[0])
    done = cast("runs", db=path)
    assert done.returncode == 0 and "Traceback" not in done.stderr and len(done.stdout.splitlines()) == 4


def test_cast_compare_with_no_resamples_is_a_clear_error(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        a, b = _runs(store, 1)[0], store.create_run({}, method="full", task="sentiment", variant="CAD", regime="cad",
                                                    model="m", seed=0)
        for run_id in (a, b):
            store.save_predictions(run_id, "factual", [0, 1], [0, 1])
            store.finish_run(run_id, "completed")
    done = cast("compare", "--a", str(a), "--b", str(b), "--samples", "0", db=path)
    assert done.returncode == 2 and "samples = 0" in done.stderr and "Traceback" not in done.stderr


# ------------------------------------------------------------------ wrong acceptance


def _jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


NON_TEXT_VALUES = {"number": 7, "float": 2.5, "list": ["a", "b"], "object": {"a": 1}, "boolean": True}


@pytest.mark.parametrize("kind", sorted(NON_TEXT_VALUES))
def test_a_text_column_that_holds_no_text_is_refused(kind, tmp_path):
    rows = [dict(r) for r in DEMO_ROWS]
    rows[5]["text"] = NON_TEXT_VALUES[kind]
    path = tmp_path / "pairs.jsonl"
    path.write_text(_jsonl(rows))
    with pytest.raises(DataError, match="column 'text' holds .* values, not text") as info:
        load_cad(str(path), "sentiment")
    assert info.value.line == 6


@pytest.mark.parametrize("arrow_type", ["int64", "binary", "list", "struct"])
def test_a_parquet_text_column_that_is_not_a_string_is_refused(arrow_type, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = {"int64": [len(r["text"]) for r in DEMO_ROWS], "binary": [r["text"].encode() for r in DEMO_ROWS],
              "list": [r["text"].split()[:3] for r in DEMO_ROWS], "struct": [{"t": r["text"]} for r in DEMO_ROWS]}
    columns = {name: [r[name] for r in DEMO_ROWS] for name in ("split", "pair_id", "role", "label")}
    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({**columns, "text": values[arrow_type]}), path)
    with pytest.raises(DataError, match="column 'text' holds .* values, not text"):
        load_cad(str(path), "sentiment")


def test_labels_may_be_numbers(tmp_path):
    rows = [dict(r, label=1 if r["label"] == "Positive" else 0) for r in DEMO_ROWS]
    path = tmp_path / "pairs.jsonl"
    path.write_text(_jsonl(rows))
    assert load_cad(str(path), "sentiment").train.factual


def test_a_revision_file_needs_a_file_of_originals_and_empty_data_is_no_dataset(tmp_path):
    revisions = tmp_path / "revisions.csv"
    revisions.write_text("text,label\nx,Positive\n")
    for source in ("demo", "upstream", "Demo "):
        with pytest.raises(ConfigError, match="revision_file needs a single originals file"):
            load_cad(source, "sentiment", revision_file=str(revisions))
    for source in ("", "   "):
        with pytest.raises(ConfigError, match="give a dataset"):
            load_cad(source, "sentiment")
    done = cast("run", "--data", "", db=tmp_path / "store" / "runs.sqlite")
    assert done.returncode == 2 and "give a dataset" in done.stderr and not (tmp_path / "store").exists()


# ------------------------------------------------------------------ wrong refusal


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\x1c", "\x1d", "\x1e", "\x0b", "\x0c"])
def test_json_lines_whose_text_holds_unicode_line_separators_load(separator, tmp_path):
    rows = [dict(r) for r in DEMO_ROWS]
    rows[3]["text"] = rows[3]["text"].replace(" ", separator, 2)
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    dataset = load_cad(str(path), "sentiment")
    texts = [e.text_a for split in (dataset.train, dataset.dev, dataset.test) for e in split.factual + split.counterfactual]
    assert rows[3]["text"] in texts


# ------------------------------------------------------------------ cost


def test_a_huge_text_field_is_cut_before_it_is_tokenised(tiny_model_dir):
    from transformers import AutoTokenizer

    from cast_engine.data.types import Example
    from cast_engine.train.batches import MAX_CHARS_PER_TOKEN, tokenize_examples

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    seen = []
    real_call = type(tokenizer).__call__

    class Spy(type(tokenizer)):
        def __call__(self, *texts, **kwargs):
            seen.append(max(len(t) for batch in texts for t in batch))
            return real_call(self, *texts, **kwargs)

    tokenizer.__class__ = Spy
    huge = " ".join(["word"] * 2_000_000)  # 10 MB
    with tempfile.TemporaryDirectory() as cache:
        tokens = tokenize_examples([Example(huge, None, 0), Example("short text", None, 1)], tokenizer, 32, Path(cache))
    assert max(seen) <= 32 * MAX_CHARS_PER_TOKEN
    expected = real_call(tokenizer, [huge[:10_000]], truncation=True, max_length=32)["input_ids"][0]
    assert list(tokens.features["input_ids"][0]) == expected


# ------------------------------------------------------------------ messages that mislead


def test_messages_say_what_a_file_is(tmp_path):
    cases = {
        "utf16-bom.csv": (CSV_TEXT.encode("utf-16"), "is UTF-16 text"),
        "utf16-le.csv": (CSV_TEXT.encode("utf-16-le"), "UTF-16 text without a byte-order mark"),
        "packed.csv": (gzip.compress(CSV_TEXT.encode()), "is gzip-compressed"),
    }
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=words):
            load_cad(str(tmp_path / name), "sentiment")


@pytest.mark.parametrize("text", ['{"text": "a", "label": }', '{"text": "a" "label": 1}', '{"text": "unclosed', "[1, 2"])
def test_json_errors_are_whole_sentences_with_the_place(text, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(_jsonl(DEMO_ROWS[:4]) + text + "\n")
    with pytest.raises(DataError) as info:
        load_cad(str(path), "sentiment")
    assert info.value.line == 5 and str(info.value).endswith(")") and "at column" in str(info.value)


@pytest.mark.parametrize("k", ["200%", "0%", "-5%", "nan%"])
def test_a_percentage_out_of_range_is_called_one(k):
    from cast_engine.sparse.kspec import parse_k

    with pytest.raises(ConfigError, match=r"a percentage must be in \(0, 100\]"):
        parse_k(k)


def test_terminal_escape_codes_in_a_run_name_are_printed_escaped(tmp_path):
    path = tmp_path / "runs.sqlite"
    name = "evil \x1b]0;owned\x07\x1b[2J name \u202e"
    with RunStore(path) as store:
        run_id = store.create_run({}, method="full", task="sentiment", variant="CAD", regime="cad", model="m", seed=1,
                                  name=name)
        store.finish_run(run_id, "failed", reason="bad \x1b[31mred")
    done = cast("show", str(run_id), db=path)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    assert "evil \\x1b]0;owned\\x07\\x1b[2J name \\u202e" in done.stdout


# ------------------------------------------------------------------ property: every class, generated


def _hostile(kind: str, folder: Path, rng: random.Random) -> tuple[Path, str]:
    if kind in ("fifo", "dev-zero", "loop", "dangling"):
        return _not_a_file(kind, folder, f"data{rng.randrange(10**6)}.csv")
    path = folder / f"data{rng.randrange(10**6)}.jsonl"
    rows = [dict(r) for r in DEMO_ROWS]
    i = rng.randrange(len(rows))
    if kind == "non-text":
        rows[i]["text"] = rng.choice(list(NON_TEXT_VALUES.values()))
        path.write_text(_jsonl(rows))
        return path, "not text"
    if kind == "utf16":
        path.write_bytes(_jsonl(rows).encode(rng.choice(["utf-16", "utf-16-le", "utf-16-be"])))
        return path, "UTF-16"
    if kind == "gzip":
        path.write_bytes(gzip.compress(_jsonl(rows).encode()))
        return path, "gzip"
    lines = _jsonl(rows).splitlines()
    lines[i] = lines[i][: rng.randrange(1, len(lines[i]) - 1)]  # "broken-json": a line cut short
    path.write_text("\n".join(lines) + "\n")
    return path, "invalid JSON"


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(["fifo", "dev-zero", "loop", "dangling", "non-text", "utf16", "gzip", "broken-json"]),
       seed=st.integers(0, 2**31 - 1))
def test_every_hostile_class_ends_in_a_named_error_and_writes_nothing(kind, seed):
    with tempfile.TemporaryDirectory() as folder:
        path, words = _hostile(kind, Path(folder), random.Random(seed))
        store = Path(folder) / "store" / "runs.sqlite"
        config = RunConfig(data=DataConfig(data=str(path), task="sentiment"))
        with pytest.raises(CastError) as info:
            load_data(config.data)
        assert words in str(info.value) and path.name in str(info.value)
        with pytest.raises(CastError):
            run(config, store=store)
        assert not store.parent.exists()
