"""Every bad input gives a DataError (or ConfigError) naming the value, the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cast_engine.data import load_cad, read_table
from cast_engine.data.kaushik import load_kaushik
from cast_engine.data.userfile import load_aligned_files, load_user_file
from cast_engine.errors import CastError, ConfigError, DataError

SPLITS = ("train", "dev", "test")


def expect_data_error(call, *fragments, path: Path | None = None, line: int | None = None) -> DataError:
    """Run ``call``; check it raises DataError with ``fragments`` in the message, and its place."""
    with pytest.raises(DataError) as info:
        call()
    error = info.value
    message = str(error)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    if path is not None:
        assert error.path == str(path) and str(path) in message
    if line is not None:
        assert error.line == line and f"line {line}" in message
    return error


# --- reading ---------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    expect_data_error(lambda: read_table(tmp_path / "absent.csv"), "not found", path=tmp_path / "absent.csv")


def test_folder_instead_of_file(tmp_path):
    (tmp_path / "data.csv").mkdir()
    expect_data_error(lambda: read_table(tmp_path / "data.csv"), "folder", path=tmp_path / "data.csv")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.tsv"
    path.write_bytes(content)
    expect_data_error(lambda: read_table(path), "empty", path=path)


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\nfine,pos\ncaf\xe9 cr\xe8me,neg\n".encode("latin-1"))
    expect_data_error(lambda: read_table(path), "UTF-8", "0xe9", path=path, line=3)


def test_ragged_row_names_the_line(tmp_path):
    path = tmp_path / "ragged.tsv"
    path.write_text("text\tlabel\na\tpos\nb\tneg\textra\n", encoding="utf-8")
    expect_data_error(lambda: read_table(path), "3 fields", "header has 2", path=path, line=3)


def test_short_row_names_the_line(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("text,label,pair_id\na,pos,1\nb,neg\n", encoding="utf-8")
    expect_data_error(lambda: read_table(path), "2 fields", "header has 3", path=path, line=3)


def test_binary_data(tmp_path):
    path = tmp_path / "image.csv"
    path.write_bytes(b"text,label\n\x89PNG\x00\x00\x1a\n")
    expect_data_error(lambda: read_table(path), "binary", path=path, line=2)


def test_not_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_text("text,label\n", encoding="utf-8")
    expect_data_error(lambda: read_table(path), "Parquet", path=path)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK\x03\x04")
    expect_data_error(lambda: read_table(path), "'.xlsx'", ".csv", path=path)


def test_invalid_json_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "label": "pos"}\n{"text": "b", "label": \n', encoding="utf-8")
    expect_data_error(lambda: read_table(path), "invalid JSON", path=path, line=2)


def test_duplicate_header_column(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("text,label,text\na,pos,b\n", encoding="utf-8")
    expect_data_error(lambda: read_table(path), "duplicate column 'text'", path=path, line=1)


# --- Kaushik layout ---------------------------------------------------------------------------


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


SENT_HEADER = ["Sentiment", "Text", "batch_id"]
NLI_HEADER = ["sentence1", "sentence2", "gold_label"]


def sentiment_tree(root: Path, train_rows=None) -> Path:
    rows = [["Negative", "bad film", "1"], ["Positive", "good film", "1"], ["Positive", "nice", "2"], ["Negative", "nasty", "2"]]
    for split in SPLITS:
        chosen = train_rows if (split == "train" and train_rows is not None) else rows
        write_tsv(root / "sentiment/combined/paired" / f"{split}_paired.tsv", SENT_HEADER, chosen)
    return root


def nli_tree(root: Path, original=None, premise=None) -> Path:
    orig = [["A man sleeps.", "A person rests.", "entailment"], ["A dog runs.", "A cat runs.", "contradiction"]]
    revised = [[f"{p} (rev {k})", h, "neutral"] for p, h, _ in orig for k in (1, 2)]
    hyp = [[p, f"{h} (rev {k})", "neutral"] for p, h, _ in orig for k in (1, 2)]
    for split in SPLITS:
        write_tsv(root / "NLI/original" / f"{split}.tsv", NLI_HEADER, original if (split == "dev" and original is not None) else orig)
        write_tsv(root / "NLI/revised_premise" / f"{split}.tsv", NLI_HEADER, premise if (split == "dev" and premise is not None) else revised)
        write_tsv(root / "NLI/revised_hypothesis" / f"{split}.tsv", NLI_HEADER, hyp)
    return root


def test_small_trees_load(tmp_path):
    assert len(load_kaushik(sentiment_tree(tmp_path), "sentiment").train.pairs) == 2
    ds = load_kaushik(nli_tree(tmp_path), "nli", "RP")
    assert len(ds.dev.counterfactual) == 4 and ds.dev.unconfirmed_pairs == 0


def test_kaushik_missing_task_folder(tmp_path):
    sentiment_tree(tmp_path)
    expect_data_error(lambda: load_kaushik(tmp_path, "nli"), "missing folder NLI", path=tmp_path / "NLI")
    (tmp_path / "other").mkdir()
    expect_data_error(lambda: load_kaushik(tmp_path / "other", "sentiment"), "sentiment/combined/paired")


def test_kaushik_missing_file(tmp_path):
    sentiment_tree(tmp_path)
    missing = tmp_path / "sentiment/combined/paired/dev_paired.tsv"
    missing.unlink()
    expect_data_error(lambda: load_kaushik(tmp_path, "sentiment"), "missing file 'dev_paired.tsv'", path=missing)
    nli_tree(tmp_path)
    absent = tmp_path / "NLI/revised_hypothesis/test.tsv"
    absent.unlink()
    assert load_kaushik(tmp_path, "nli", "RP1").test.factual  # RP1 does not need it
    expect_data_error(lambda: load_kaushik(tmp_path, "nli", "RH1"), "missing file 'test.tsv'", path=absent)


def test_kaushik_missing_column(tmp_path):
    sentiment_tree(tmp_path)
    path = write_tsv(tmp_path / "sentiment/combined/paired/train_paired.tsv", ["Sentiment", "Review", "batch_id"], [["Negative", "x", "1"]])
    expect_data_error(lambda: load_kaushik(tmp_path, "sentiment"), "missing column 'Text'", "'Review'", path=path, line=1)


def test_kaushik_unknown_label(tmp_path):
    rows = [["Negative", "bad", "1"], ["Positve", "good", "1"]]
    sentiment_tree(tmp_path, rows)
    path = tmp_path / "sentiment/combined/paired/train_paired.tsv"
    expect_data_error(lambda: load_kaushik(tmp_path, "sentiment"), "'Positve'", "Negative, Positive", path=path, line=3)
    nli_tree(tmp_path, original=[["A", "B", "entailment"], ["C", "D", "-"]])
    expect_data_error(
        lambda: load_kaushik(tmp_path, "nli", "RAW"),
        "unknown label '-'",
        "entailment, neutral, contradiction",
        path=tmp_path / "NLI/original/dev.tsv",
        line=3,
    )


def test_kaushik_empty_split(tmp_path):
    sentiment_tree(tmp_path, [])
    path = tmp_path / "sentiment/combined/paired/train_paired.tsv"
    expect_data_error(lambda: load_kaushik(tmp_path, "sentiment"), "split 'train' is empty", path=path)


def test_kaushik_unpaired_batch(tmp_path):
    sentiment_tree(tmp_path, [["Negative", "a", "1"], ["Positive", "b", "1"], ["Negative", "c", "7"]])
    path = tmp_path / "sentiment/combined/paired/train_paired.tsv"
    expect_data_error(lambda: load_kaushik(tmp_path, "sentiment"), "batch_id '7'", "unpaired", path=path, line=4)


def test_kaushik_duplicated_batch(tmp_path):
    rows = [["Negative", "a", "1"], ["Positive", "b", "1"], ["Positive", "c", "1"], ["Negative", "d", "2"], ["Positive", "e", "2"]]
    sentiment_tree(tmp_path, rows)
    path = tmp_path / "sentiment/combined/paired/train_paired.tsv"
    expect_data_error(lambda: load_kaushik(tmp_path, "sentiment"), "batch_id '1'", "3 rows", path=path, line=4)


def test_kaushik_revised_row_count(tmp_path):
    nli_tree(tmp_path, premise=[["x", "A person rests.", "neutral"]] * 3)
    path = tmp_path / "NLI/revised_premise/dev.tsv"
    expect_data_error(lambda: load_kaushik(tmp_path, "nli", "RP2"), "has 3 rows, expected 4", path=path)


def test_kaushik_unconfirmed_pairs_are_counted(tmp_path):
    premise = [["A man naps.", "A person rests.", "neutral"], ["A man sits.", "A person rests!", "neutral"],
               ["x", "A cat runs.", "neutral"], ["y", "A cat runs.", "neutral"]]
    nli_tree(tmp_path, premise=premise)
    assert load_kaushik(tmp_path, "nli", "RP1").dev.unconfirmed_pairs == 1
    assert load_kaushik(tmp_path, "nli", "RH1").dev.unconfirmed_pairs == 0


def test_unknown_task_or_variant(tmp_path):
    sentiment_tree(tmp_path)
    with pytest.raises(ConfigError, match=r"'RP9'.*RAW, RP1, RP2, RH1, RH2, RP, RH, ALL"):
        load_kaushik(tmp_path, "nli", "RP9")
    with pytest.raises(ConfigError, match=r"'RH1'.*RAW, CAD"):
        load_kaushik(tmp_path, "sentiment", "RH1")
    with pytest.raises(ConfigError, match=r"'sst'.*sentiment, nli"):
        load_cad(tmp_path, "sst")


# --- user files --------------------------------------------------------------------------------


def user_rows(**changes):
    rows = []
    for split in SPLITS:
        for pid in ("1", "2"):
            key = f"{split}{pid}"
            rows.append({"split": split, "pair_id": key, "role": "original", "label": "pos", "text": f"good {key}"})
            rows.append({"split": split, "pair_id": key, "role": "revised", "label": "neg", "text": f"bad {key}"})
    for index, change in changes.items():
        rows[int(index.strip("r"))].update(change)
    return rows


def test_user_file_is_valid_to_begin_with(table_writer):
    assert len(load_user_file(table_writer("ok.csv", user_rows()), "sentiment").train.pairs) == 2


def test_user_missing_column(table_writer):
    rows = [{k: v for k, v in r.items() if k != "label"} for r in user_rows()]
    path = table_writer("data.csv", rows)
    expect_data_error(lambda: load_user_file(path, "sentiment"), "missing label column 'label'", "'pair_id'", path=path, line=1)
    expect_data_error(lambda: load_user_file(path, "sentiment", label_column="stance"), "'stance'", path=path, line=1)
    nli = table_writer("nli.csv", user_rows())
    expect_data_error(lambda: load_user_file(nli, "nli"), "missing text columns text_a/text_b or sentence1/sentence2 or "
                      "premise/hypothesis (columns found: 'split'", "'text'", path=nli, line=1)
    # every missing column is named, not only the first looked for
    pairs = [{"premise": r["text"], "hypothesis": r["text"], "pair_id": r["pair_id"]} for r in user_rows()]
    no_label = table_writer("nli-no-label.csv", pairs)
    expect_data_error(lambda: load_user_file(no_label, "nli"), "missing label column 'label' (columns found", path=no_label, line=1)
    bare = table_writer("bare.csv", [{"words": r["text"]} for r in user_rows()])
    expect_data_error(lambda: load_user_file(bare, "nli"), "missing text columns text_a/text_b", "label column 'label', "
                      "pair id column 'pair_id'", path=bare, line=1)


def test_user_unknown_label(table_writer):
    path = table_writer("data.csv", user_rows(r3={"label": "meh"}))
    expect_data_error(lambda: load_user_file(path, "sentiment"), "unknown label 'meh'", "Negative, Positive", "pos", path=path, line=5)


def test_user_unknown_label_in_json_lines(table_writer):
    path = table_writer("data.jsonl", user_rows(r2={"label": "2"}))
    expect_data_error(lambda: load_user_file(path, "sentiment"), "unknown label '2'", path=path, line=3)


def test_user_unknown_nli_label(table_writer):
    rows = [{"sentence1": "a", "sentence2": "b", "label": "yes", "pair_id": "1"}]
    path = table_writer("nli.tsv", rows)
    expect_data_error(lambda: load_user_file(path, "nli"), "'yes'", "entailment, neutral, contradiction, e, n, c", path=path, line=2)


def test_user_empty_split(table_writer):
    rows = [r for r in user_rows() if r["split"] != "dev"]
    path = table_writer("data.csv", rows)
    expect_data_error(lambda: load_user_file(path, "sentiment"), "split 'dev' is empty", path=path)


def test_user_too_few_pairs_to_split(table_writer):
    rows = [{k: v for k, v in r.items() if k != "split"} for r in user_rows()][:4]
    path = table_writer("data.csv", rows)
    expect_data_error(lambda: load_user_file(path, "sentiment"), "only 2 pairs", path=path)


def test_user_unknown_split_value(table_writer):
    path = table_writer("data.csv", user_rows(r6={"split": "holdout"}))
    expect_data_error(lambda: load_user_file(path, "sentiment"), "unknown split 'holdout'", path=path, line=8)


def test_user_pair_without_original(table_writer):
    path = table_writer("data.csv", user_rows(r4={"role": "revised"}))
    expect_data_error(lambda: load_user_file(path, "sentiment"), "pair 'dev1' has no original", path=path, line=6)


def test_user_pair_without_revision(table_writer):
    rows = user_rows()
    del rows[1]
    path = table_writer("data.csv", rows)
    expect_data_error(lambda: load_user_file(path, "sentiment"), "pair 'train1' has no revision", "unpaired", path=path, line=2)


def test_user_pair_without_revision_and_role_column(table_writer):
    rows = [{k: v for k, v in r.items() if k != "role"} for r in user_rows()]
    del rows[3]
    path = table_writer("data.csv", rows)
    expect_data_error(lambda: load_user_file(path, "sentiment"), "pair 'train2' has no revision", path=path, line=4)


def test_user_duplicated_original(table_writer):
    path = table_writer("data.csv", user_rows(r1={"role": "original"}))
    expect_data_error(lambda: load_user_file(path, "sentiment"), "pair 'train1' has a duplicated original", "line 2", path=path, line=3)


def test_user_empty_text(table_writer):
    path = table_writer("data.tsv", user_rows(r7={"text": "   "}))
    expect_data_error(lambda: load_user_file(path, "sentiment"), "empty text in column 'text'", path=path, line=9)


def test_user_empty_pair_id(table_writer):
    path = table_writer("data.csv", user_rows(r0={"pair_id": ""}))
    expect_data_error(lambda: load_user_file(path, "sentiment"), "empty pair id", path=path, line=2)


def test_user_variant_needing_roles(table_writer):
    rows = [{"text_a": "a", "text_b": "b", "label": "e", "pair_id": str(i // 2), "split": SPLITS[i // 2 % 3]} for i in range(12)]
    path = table_writer("nli.csv", rows)
    with pytest.raises(ConfigError, match="'RP1' needs a 'role' column"):
        load_user_file(path, "nli", "RP1")


def test_user_wrong_number_of_text_columns(table_writer):
    path = table_writer("data.csv", user_rows())
    with pytest.raises(ConfigError, match="needs 2 text column"):
        load_user_file(path, "nli", text_columns="text")


def test_aligned_files_with_different_lengths(table_writer):
    a = table_writer("orig.csv", [{"text": f"good {i}", "label": "pos"} for i in range(5)])
    b = table_writer("rev.csv", [{"text": f"bad {i}", "label": "neg"} for i in range(4)])
    expect_data_error(lambda: load_aligned_files(a, b, "sentiment"), "has 4 rows", "has 5", path=b)


def test_aligned_file_with_bad_label(table_writer):
    a = table_writer("orig.csv", [{"text": f"good {i}", "label": "pos"} for i in range(5)])
    b = table_writer("rev.csv", [{"text": f"bad {i}", "label": "neg" if i != 2 else "maybe"} for i in range(5)])
    expect_data_error(lambda: load_aligned_files(a, b, "sentiment"), "'maybe'", path=b, line=4)


def test_front_door_errors(tmp_path, table_writer):
    (tmp_path / "empty_folder").mkdir()
    expect_data_error(lambda: load_cad(tmp_path / "empty_folder", "sentiment"), "not a CAD folder", path=tmp_path / "empty_folder")
    path = table_writer("data.csv", user_rows())
    with pytest.raises(ConfigError, match="revision_file"):
        load_cad(tmp_path, "sentiment", revision_file=path)


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00t\x00e\x00x\x00t", b"text,label\n\"unclosed,pos\n", b"\x00\x01\x02", b"a\n" + b"\x80" * 10],
)
def test_nothing_but_data_errors_escape(tmp_path, content):
    for suffix in (".csv", ".tsv", ".jsonl", ".json", ".parquet"):
        path = tmp_path / f"data{suffix}"
        path.write_bytes(content)
        with pytest.raises(CastError):
            load_user_file(path, "sentiment")


def test_unclosed_quote_names_the_line(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('text,label\na,pos\nb,neg\n"unclosed,pos\nc,neg\n', encoding="utf-8")
    expect_data_error(lambda: read_table(path), "unclosed quote", path=path, line=4)


def test_json_array_of_non_objects(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('[{"text": "a"}, 3]', encoding="utf-8")
    expect_data_error(lambda: read_table(path), "record 2", "int", path=path)


def test_line_numbers_count_physical_lines_after_multiline_fields(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text('text,label,pair_id\n"two\nlines",pos,1\nb,neg,1\nc,maybe,2\n', encoding="utf-8")
    expect_data_error(lambda: load_user_file(path, "sentiment"), "'maybe'", path=path, line=5)
