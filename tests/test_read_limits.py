"""Bounded memory and time on big input: reading peaks at about 3× the file, a file too big for the
machine is refused up front with the numbers, a read can be stopped, and a sweep grid too big to
run is refused with its size before it is expanded."""

from __future__ import annotations

import time

import pytest

from bench_scripts import load_bench_script
from cast_engine.data import load_cad, read_table
from cast_engine.data import reading
from cast_engine.data.reading import stop_reading_when
from cast_engine.errors import ConfigError, DataError, RunCancelled
from cast_engine.experiments.grid import MAX_TRIALS, SweepSpec, parse_axis

read_memory = load_bench_script("read_memory")


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    """A paired sentiment CSV of about 25 MB (reviews of a few hundred words)."""
    return read_memory.write_csv(tmp_path_factory.mktemp("big") / "pairs.csv", 25_000_000)


def test_reading_a_dataset_peaks_at_about_three_times_the_file(big_csv):
    measured = read_memory.measure("cast", big_csv)
    size = big_csv.stat().st_size
    assert measured["rows"] > 20_000
    assert measured["added_bytes"] <= 3 * size, f"{measured['added_bytes'] / size:.1f}× the file size"


def test_a_file_too_big_for_memory_is_refused_before_it_is_read(big_csv, monkeypatch):
    monkeypatch.setattr(reading, "available_memory", lambda: 40_000_000)

    def never(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(reading, "_check_text", never)
    monkeypatch.setattr(reading, "_parse_delimited", never)
    with pytest.raises(DataError) as info:
        read_table(big_csv)
    message = str(info.value)
    assert str(big_csv) in message
    needed = reading.read_memory_estimate(big_csv, big_csv.stat().st_size)
    assert 2 * big_csv.stat().st_size < needed < 3 * big_csv.stat().st_size  # reviews: about 2.1x the file
    assert f"file is 0.03 GB; reading it takes about {needed / 1e9:.2f} GB of memory and 0.04 GB is available" in message


def test_the_estimate_follows_the_rows(tmp_path):
    """Rows of a few words cost more per byte than reviews: the up-front estimate knows it."""
    short = tmp_path / "short.csv"
    short.write_text("pair_id,role,label,text\n" + "".join(
        f"p{i},original,Positive,a good film {i}\np{i},revised,Negative,a bad film {i}\n" for i in range(60_000)))
    size = short.stat().st_size
    estimate = reading.read_memory_estimate(short, size)
    measured = read_memory.measure("cast", short)["added_bytes"]
    assert estimate > 10 * size and measured <= estimate, (measured / size, estimate / size)


def test_a_read_stops_when_asked(big_csv):
    seen = []

    def should_stop():
        seen.append(1)
        return len(seen) > 3

    with pytest.raises(RunCancelled, match="newer data choice"):
        with stop_reading_when(should_stop):
            load_cad(str(big_csv), "sentiment")
    assert 3 < len(seen) < 10  # it stopped at the next look, not at the end of the file
    assert load_cad(str(big_csv), "sentiment").train.factual  # outside the block nothing stops a read


def test_many_columns_take_linear_time(tmp_path):
    """Reading time grows with the number of cells, not with the square of the number of columns."""
    def seconds(columns: int) -> float:
        path = tmp_path / f"wide{columns}.csv"
        names = [f"c{i}" for i in range(columns)]
        rows = max(1, 200_000 // columns)
        path.write_text(",".join(names) + "\n" + ("".join(",".join("x" for _ in names) + "\n" for _ in range(rows))))
        started = time.perf_counter()
        read_table(path)
        return time.perf_counter() - started

    seconds(100)  # warm up
    narrow, wide = seconds(200), seconds(20_000)  # the same number of cells
    assert wide < 8 * narrow + 0.5, (narrow, wide)


# ------------------------------------------------------------------ sweep grids


def test_a_range_too_long_is_refused_before_it_is_expanded(monkeypatch):
    import builtins

    made = []
    real_range = builtins.range
    monkeypatch.setattr(builtins, "range", lambda *a: made.append(a) or real_range(*a))
    with pytest.raises(ConfigError, match=r"has 10,000,001 values; a sweep takes at most 10,000 trials"):
        parse_axis("lr=0:1:1e-7")
    monkeypatch.undo()
    assert all(max(a) <= MAX_TRIALS for a in made)  # nothing of ten million values was listed
    with pytest.raises(ConfigError, match="finite"):
        parse_axis("lr=0:inf:1")
    assert len(parse_axis("lr=0:1:1e-3")[1]) == 1001


def test_a_grid_too_big_is_refused_with_its_size(tiny_config):
    base = tiny_config("cast").to_dict()
    axes = {"method.alpha": [str(i / 1000) for i in range(1, 101)], "train.seed": [str(i) for i in range(101)]}
    spec = SweepSpec(base, [axes])
    assert spec.size() == 10_100
    with pytest.raises(ConfigError, match=r"the grid makes 10,100 trials \(100 alpha × 101 seed\); a sweep takes at most 10,000"):
        spec.trials()


def test_the_cli_refuses_a_huge_grid(tmp_path):
    from cast_engine.cli import main

    code = main(["--db", str(tmp_path / "runs.sqlite"), "sweep", "--grid", "lr=0:1:1e-7"])
    assert code == 2
    assert not (tmp_path / "runs.sqlite").exists()
