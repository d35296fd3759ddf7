"""User data: one paired file, a folder of split files, two aligned files, and load_cad's front door."""

from __future__ import annotations

import pytest

from cast_engine.data import DEMO_DIR, dataset_stats, load_cad
from cast_engine.data.userfile import load_aligned_files, load_user_file, load_user_folder
from cast_engine.errors import ConfigError, DataError

SPLITS = ("train", "dev", "test")


def sentiment_rows(splits=SPLITS, pairs_per_split=2, role=True, split=True):
    """Pairs of an original review and its revision with opposite labels."""
    rows = []
    for s in splits:
        for k in range(pairs_per_split):
            pid = f"{s}-{k}"
            for n, (label, text) in enumerate([("Positive", f"good film {pid}"), ("Negative", f"bad film {pid}")]):
                row = {"pair_id": pid, "label": label, "text": text}
                if role:
                    row["role"] = "original" if n == 0 else "revised"
                if split:
                    row["split"] = s
                rows.append(row)
    return rows


def nli_rows(splits=SPLITS, pairs_per_split=2):
    """An original with the four revision roles RP1, RP2, RH1, RH2."""
    rows = []
    labels = {"original": "entailment", "RP1": "neutral", "RP2": "contradiction", "RH1": "neutral", "RH2": "contradiction"}
    for s in splits:
        for k in range(pairs_per_split):
            pid = f"{s}-{k}"
            for role, label in labels.items():
                rows.append({"split": s, "pair_id": pid, "role": role, "label": label, "text_a": f"premise {pid} {role}", "text_b": f"hypothesis {pid} {role}"})
    return rows


def sizes(ds):
    return [(len(ds.split(s).factual), len(ds.split(s).counterfactual)) for s in SPLITS]


def test_sentiment_file_with_split_and_role(table_writer):
    path = table_writer("data.csv", sentiment_rows())
    ds = load_user_file(path, "sentiment")
    assert ds.variant == "CAD" and ds.files == [path]
    assert sizes(ds) == [(2, 2)] * 3
    assert ds.train.factual[0].text_a == "good film train-0" and ds.train.factual[0].text_b is None
    assert ds.train.counterfactual[1].text_a == "bad film train-1"
    assert ds.train.pairs == [(0, 0), (1, 1)]
    assert (ds.train.factual[0].label, ds.train.counterfactual[0].label) == (1, 0)
    raw = load_user_file(path, "sentiment", "raw")
    assert raw.variant == "RAW" and sizes(raw) == [(2, 0)] * 3


def test_original_need_not_come_first_and_factual_role_is_accepted(table_writer):
    rows = sentiment_rows()
    rows[0], rows[1] = rows[1], rows[0]
    rows[1]["role"] = "Factual"
    ds = load_user_file(table_writer("data.tsv", rows), "sentiment")
    assert ds.train.factual[0].text_a == "good film train-0"
    assert ds.train.counterfactual[0].text_a == "bad film train-0"


@pytest.mark.parametrize(
    "positive, negative", [("positive", "NEGATIVE"), ("pos", "neg"), ("1", "0"), ("Pos", "Neg")]
)
def test_sentiment_label_short_forms(table_writer, positive, negative):
    rows = sentiment_rows()
    for row in rows:
        row["label"] = positive if row["label"] == "Positive" else negative
    ds = load_user_file(table_writer("data.csv", rows), "sentiment")
    assert ds.train.factual[0].label == 1 and ds.train.counterfactual[0].label == 0


def test_numeric_labels_in_json_lines(table_writer):
    rows = sentiment_rows()
    numbers: dict[str, int] = {}
    for row in rows:
        row["label"] = 1 if row["label"] == "Positive" else 0
        row["pair_id"] = numbers.setdefault(row["pair_id"], 1000 + len(numbers))  # the same number for both rows of a pair
    ds = load_user_file(table_writer("data.jsonl", rows), "sentiment")
    assert ds.train.factual[0].label == 1


@pytest.mark.parametrize(
    "variant, revisions",
    [("RAW", 0), ("RP1", 1), ("RP2", 1), ("RH1", 1), ("RH2", 1), ("RP", 2), ("RH", 2), ("ALL", 4)],
)
def test_nli_roles_select_variants(table_writer, variant, revisions):
    ds = load_user_file(table_writer("nli.jsonl", nli_rows()), "nli", variant)
    assert sizes(ds) == [(2, 2 * revisions)] * 3
    if variant == "RH1":
        assert ds.train.counterfactual[0].text_b == "hypothesis train-0 RH1"
        assert ds.train.counterfactual[0].label == 1


def test_nli_default_variant_and_label_short_forms(table_writer):
    rows = nli_rows()
    for row in rows:
        row["label"] = row["label"][0].upper()  # E / N / C
    ds = load_user_file(table_writer("nli.csv", rows), "nli")
    assert ds.variant == "RH1"
    assert ds.train.factual[0].label == 0 and ds.train.counterfactual[0].label == 1


def test_nli_sentence1_sentence2_columns_are_detected(table_writer):
    rows = [{"sentence1": r["text_a"], "sentence2": r["text_b"], **{k: r[k] for k in ("split", "pair_id", "role", "label")}} for r in nli_rows()]
    ds = load_user_file(table_writer("nli.tsv", rows), "nli", "RP")
    assert ds.train.factual[0].text_a == "premise train-0 original"
    assert ds.train.factual[0].text_b == "hypothesis train-0 original"


def test_custom_column_names(table_writer):
    rows = [{"review": r["text"], "stance": r["label"], "group": r["pair_id"], "Split": r["split"]} for r in sentiment_rows(role=True)]
    path = table_writer("data.csv", rows)
    ds = load_user_file(path, "sentiment", text_columns="review", label_column="stance", pair_column="group")
    assert sizes(ds) == [(2, 2)] * 3  # no role column: the first row of a pair is the original
    assert ds.train.factual[0].text_a == "good film train-0"


def test_without_role_the_first_row_is_the_original(table_writer):
    path = table_writer("data.csv", sentiment_rows(role=False))
    ds = load_user_file(path, "sentiment")
    assert ds.train.factual[1].text_a == "good film train-1"
    nli = [{k: v for k, v in r.items() if k != "role"} for r in nli_rows()]
    nli_path = table_writer("nli.jsonl", nli)
    ds = load_user_file(nli_path, "nli")
    assert ds.variant == "ALL" and sizes(ds) == [(2, 8)] * 3
    assert load_user_file(nli_path, "nli", "RAW").variant == "RAW"
    with pytest.raises(ConfigError, match="RH1"):
        load_user_file(nli_path, "nli", "RH1")


def test_nli_variant_without_matching_roles_is_a_config_error(table_writer):
    rows = [dict(r, role="original" if r["role"] == "original" else "revised") for r in nli_rows()]
    path = table_writer("nli.jsonl", rows)
    assert load_user_file(path, "nli").variant == "ALL"
    with pytest.raises(ConfigError, match="RP2.*revised"):
        load_user_file(path, "nli", "RP2")


def test_split_by_pair_is_seeded_and_keeps_pairs_together(table_writer):
    path = table_writer("data.csv", sentiment_rows(splits=("train",), pairs_per_split=50, split=False))
    ds = load_user_file(path, "sentiment")
    assert sizes(ds) == [(40, 40), (5, 5), (5, 5)]
    for name in SPLITS:
        part = ds.split(name)
        for f, c in part.pairs:
            assert part.factual[f].text_a.replace("good", "bad") == part.counterfactual[c].text_a
    again = load_user_file(path, "sentiment")
    assert [e.text_a for e in again.dev.factual] == [e.text_a for e in ds.dev.factual]
    other = load_user_file(path, "sentiment", seed=1)
    assert [e.text_a for e in other.dev.factual] != [e.text_a for e in ds.dev.factual]
    texts = [e.text_a for s in SPLITS for e in ds.split(s).factual]
    assert len(set(texts)) == 50


@pytest.mark.parametrize("extension", ["parquet", "json", "tsv", "txt"])
def test_other_formats(table_writer, extension):
    ds = load_user_file(table_writer(f"data.{extension}", sentiment_rows()), "sentiment")
    assert sizes(ds) == [(2, 2)] * 3


def test_folder_with_one_file_per_split(tmp_path, table_writer):
    for name in SPLITS:
        rows = [{k: v for k, v in r.items() if k != "split"} for r in sentiment_rows(splits=(name,), pairs_per_split=3)]
        table_writer(f"folder/{name}.{'jsonl' if name == 'dev' else 'csv'}", rows)
    ds = load_user_folder(tmp_path / "folder", "sentiment")
    assert sizes(ds) == [(3, 3)] * 3
    assert [p.name for p in ds.files] == ["train.csv", "dev.jsonl", "test.csv"]
    assert load_cad(tmp_path / "folder", "sentiment").dev.factual[0].text_a == "good film dev-0"


def test_two_aligned_files(table_writer):
    originals = [{"text": f"good film {i}", "label": "pos"} for i in range(20)]
    revisions = [{"text": f"bad film {i}", "label": "neg"} for i in range(20)]
    a, b = table_writer("orig.csv", originals), table_writer("rev.tsv", revisions)
    ds = load_aligned_files(a, b, "sentiment")
    assert sizes(ds) == [(16, 16), (2, 2), (2, 2)]
    for name in SPLITS:
        part = ds.split(name)
        assert all(part.factual[f].text_a.replace("good", "bad") == part.counterfactual[c].text_a for f, c in part.pairs)
    assert ds.files == [a, b]
    assert load_cad(a, "sentiment", revision_file=b, seed=3).variant == "CAD"
    assert sizes(load_aligned_files(a, b, "sentiment", "RAW")) == [(16, 0), (2, 0), (2, 0)]


def test_aligned_nli_files_default_to_all(table_writer):
    originals = [{"sentence1": f"p{i}", "sentence2": f"h{i}", "label": "entailment"} for i in range(10)]
    revisions = [{"sentence1": f"p{i}", "sentence2": f"h{i}!", "label": "contradiction"} for i in range(10)]
    ds = load_aligned_files(table_writer("o.jsonl", originals), table_writer("r.jsonl", revisions), "nli")
    assert ds.variant == "ALL" and sizes(ds) == [(8, 8), (1, 1), (1, 1)]


def test_load_cad_with_a_user_file_and_options(table_writer):
    path = table_writer("data.csv", sentiment_rows())
    ds = load_cad(str(path), "Sentiment")
    assert ds.task == "sentiment" and sizes(ds) == [(2, 2)] * 3
    with pytest.raises(ConfigError, match="'bogus'.*RAW, CAD"):
        load_cad(path, "sentiment", "bogus")
    with pytest.raises(ConfigError, match="'vision'.*sentiment, nli"):
        load_cad(path, "vision")
    with pytest.raises(DataError, match="no such file"):
        load_cad(path.with_name("absent.csv"), "sentiment")


@pytest.mark.parametrize("task, variant", [("sentiment", "CAD"), ("nli", "RH1")])
def test_demo_data(task, variant):
    if not (DEMO_DIR / f"{task}.jsonl").is_file():
        pytest.skip("the bundled demo data is not there yet")
    for source in (None, "demo"):
        ds = load_cad(source, task)
        assert ds.variant == variant and "demo" in ds.source
        for name in SPLITS:
            assert ds.split(name).factual and ds.split(name).counterfactual
    stats = dataset_stats(ds)
    assert stats["splits"]["train"]["pairs"] == len(ds.train.pairs)


def test_utf8_bom_and_quoted_multiline_fields(tmp_path):
    rows = ['"text","label","pair_id"']
    for pid in range(10):
        rows += [f'"good\nfilm {pid}",pos,{pid}', f'"bad ""film"" {pid}",neg,{pid}']
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(rows).encode("utf-8") + b"\n")
    ds = load_user_file(path, "sentiment")
    texts = {e.text_a for s in SPLITS for e in ds.split(s).factual}
    assert "good\nfilm 0" in texts
    assert any(e.text_a == 'bad "film" 3' for s in SPLITS for e in ds.split(s).counterfactual)


def test_importing_the_data_package_is_light():
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, cast_engine.data; print(sorted(m for m in ('torch', 'datasets', 'pandas') if m in sys.modules))"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
