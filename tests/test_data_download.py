"""download_cad against a local HTTP server on 127.0.0.1 serving ../shared/data/cad (never the internet)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cast_engine.data import load_cad
from cast_engine.data.download import UPSTREAM_BASE_URL, default_cache_dir, download_cad, upstream_files
from cast_engine.data.kaushik import load_kaushik
from cast_engine.errors import DataError, RunCancelled
from local_http import LocalServer


@pytest.fixture
def server(cad_dir, monkeypatch):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # the server is local
    monkeypatch.delenv("CAST_CAD_URL", raising=False)
    served = LocalServer(cad_dir)
    yield served
    served.close()


def test_download_then_load(server, tmp_path):
    calls = []
    root = download_cad(tmp_path / "cache", server.url, progress=lambda i, n, name: calls.append((i, n, name)))
    assert root == tmp_path / "cache"
    names = upstream_files()
    assert len(names) == 12 and calls == [(i + 1, 12, name) for i, name in enumerate(names)]
    for name in names:
        assert (root / name).is_file()
    assert (root / "NLI/original/train.tsv").read_bytes() == (server_root(server) / "NLI/original/train.tsv").read_bytes()
    ds = load_kaushik(root, "nli", "RH1")
    assert (len(ds.train.factual), len(ds.train.counterfactual)) == (1666, 1666)
    assert len(load_kaushik(root, "sentiment").train.pairs) == 1707


def server_root(server) -> Path:
    return Path(server.httpd.RequestHandlerClass.keywords["directory"])


def test_second_call_downloads_nothing(server, tmp_path):
    download_cad(tmp_path, server.url, tasks=("sentiment",))
    assert server.requests
    server.requests.clear()
    calls = []
    download_cad(tmp_path, server.url, tasks=("sentiment",), progress=lambda *a: calls.append(a))
    assert server.requests == [] and len(calls) == 3


def test_tasks_select_files(server, tmp_path):
    download_cad(tmp_path, server.url, tasks=("nli",))
    assert not (tmp_path / "sentiment").exists()
    assert len(list((tmp_path / "NLI").rglob("*.tsv"))) == 9


def test_should_stop_cancels_between_files(server, tmp_path):
    done = []
    with pytest.raises(RunCancelled, match="2 of 3"):
        download_cad(tmp_path, server.url, tasks=("sentiment",), progress=lambda i, n, name: done.append(i), should_stop=lambda: len(done) >= 2)
    assert done == [1, 2]
    assert len(list(tmp_path.rglob("*.tsv"))) == 2


def test_missing_file_names_the_url(server, tmp_path):
    with pytest.raises(DataError) as info:
        download_cad(tmp_path, server.url + "no-such-folder/", tasks=("nli",))
    url = server.url + "no-such-folder/NLI/original/train.tsv"
    assert info.value.path == url and url in str(info.value)
    assert not (tmp_path / "NLI/original/train.tsv").exists()


def test_unreachable_server_names_the_url(tmp_path, monkeypatch):
    monkeypatch.delenv("CAST_CAD_URL", raising=False)
    with pytest.raises(DataError, match=r"http://127\.0\.0\.1:9/sentiment"):
        download_cad(tmp_path, "http://127.0.0.1:9/", tasks=("sentiment",))


def test_environment_overrides(server, tmp_path, monkeypatch):
    monkeypatch.setenv("CAST_CAD_URL", server.url.rstrip("/"))
    monkeypatch.setenv("CAST_CACHE_DIR", str(tmp_path / "cast"))
    assert default_cache_dir() == tmp_path / "cast" / "cad"
    root = download_cad(tasks=("sentiment",))
    assert root == tmp_path / "cast" / "cad" and server.requests
    ds = load_cad("upstream", "nli", "RP", cache_dir=tmp_path / "other")
    assert len(ds.train.counterfactual) == 3332 and (tmp_path / "other" / "NLI").is_dir()
    assert not (tmp_path / "other" / "sentiment").exists()
    assert UPSTREAM_BASE_URL.startswith("https://raw.githubusercontent.com/acmi-lab/")
