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


# ------------------------------------------------------------------ nothing of the user's is moved


def _user_copy(cad_dir: Path, folder: Path, names: list[str]) -> dict[str, bytes]:
    """A user's own folder holding ``names`` (copies of the real files); returns their bytes."""
    held = {}
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        held[name] = (cad_dir / name).read_bytes()
        (folder / name).write_bytes(held[name])
    return held


@pytest.mark.parametrize("as_url", [False, True], ids=["folder", "file-url"])
def test_a_local_source_is_copied_and_stays_whole(cad_dir, tmp_path, monkeypatch, as_url):
    names = upstream_files(("sentiment",))
    held = _user_copy(cad_dir, tmp_path / "mine", names)
    source = (tmp_path / "mine").as_uri() if as_url else str(tmp_path / "mine")
    monkeypatch.setenv("CAST_CAD_URL", source)
    root = download_cad(tmp_path / "cache", tasks=("sentiment",))
    for name in names:
        assert (tmp_path / "mine" / name).read_bytes() == held[name]  # the user's file is still there
        assert (root / name).read_bytes() == held[name]


@pytest.mark.parametrize("url", ["http://example.com/cad/", "ftp://example.com/cad/", "http://10.0.0.1/"])
def test_only_https_leaves_the_machine(tmp_path, url):
    with pytest.raises(DataError, match="only https") as info:
        download_cad(tmp_path / "cache", url, tasks=("sentiment",))
    assert info.value.path == url
    assert not list((tmp_path).rglob("*.tsv"))


def test_upstream_is_pinned_to_a_commit_with_known_sums():
    from cast_engine.data.download import UPSTREAM_COMMIT, UPSTREAM_SHA256

    assert len(UPSTREAM_COMMIT) == 40 and int(UPSTREAM_COMMIT, 16) >= 0
    assert UPSTREAM_BASE_URL.startswith("https://") and f"/{UPSTREAM_COMMIT}/" in UPSTREAM_BASE_URL
    assert "/master/" not in UPSTREAM_BASE_URL
    assert sorted(UPSTREAM_SHA256) == sorted(upstream_files())


def test_the_known_sums_are_those_of_the_real_files(cad_dir):
    from cast_engine.data.download import UPSTREAM_SHA256, file_sha256

    for name, expected in UPSTREAM_SHA256.items():
        assert file_sha256(cad_dir / name) == expected, name


def test_a_changed_file_is_refused_naming_it(cad_dir, tmp_path):
    names = upstream_files(("sentiment",))
    _user_copy(cad_dir, tmp_path / "mirror", names)
    changed = tmp_path / "mirror" / names[1]
    changed.write_bytes(changed.read_bytes().replace(b"Positive", b"Negative", 1))
    with pytest.raises(DataError, match="sha256") as info:
        download_cad(tmp_path / "cache", str(tmp_path / "mirror"), tasks=("sentiment",))
    assert names[1] in str(info.value)
    assert not (tmp_path / "cache" / names[1]).exists()
    assert not list((tmp_path / "cache").rglob("*.part"))  # no partial file left behind


def test_a_served_changed_file_is_refused(cad_dir, tmp_path):
    names = upstream_files(("nli",))
    _user_copy(cad_dir, tmp_path / "served", names)
    (tmp_path / "served" / names[0]).write_bytes(b"sentence1\tsentence2\tgold_label\na\tb\tneutral\n")
    served = LocalServer(tmp_path / "served")
    try:
        with pytest.raises(DataError, match=r"sha256.*expected") as info:
            download_cad(tmp_path / "cache", served.url, tasks=("nli",))
    finally:
        served.close()
    assert info.value.path == served.url + names[0]


def test_a_cached_file_that_changed_is_fetched_again(server, tmp_path):
    download_cad(tmp_path, server.url, tasks=("sentiment",))
    name = upstream_files(("sentiment",))[0]
    (tmp_path / name).write_text("truncated")
    server.requests.clear()
    download_cad(tmp_path, server.url, tasks=("sentiment",))
    assert server.requests == ["/" + name]
    assert (tmp_path / name).read_bytes() == (server_root(server) / name).read_bytes()


def test_another_downloads_partial_file_is_left_alone(server, tmp_path):
    """Two downloads at once (CLI and studio) write partial files of their own."""
    name = upstream_files(("sentiment",))[0]
    theirs = tmp_path / (name + ".part")
    theirs.parent.mkdir(parents=True)
    theirs.write_text("another download, half way")
    download_cad(tmp_path, server.url, tasks=("sentiment",))
    assert theirs.read_text() == "another download, half way"
    assert (tmp_path / name).read_bytes() == (server_root(server) / name).read_bytes()


def test_two_downloads_at_once_both_succeed(cad_dir, tmp_path):
    import threading

    slow = LocalServer(cad_dir, delay=0.05)
    errors = []

    def fetch():
        try:
            download_cad(tmp_path / "cache", slow.url, tasks=("sentiment",))
        except Exception as exc:  # noqa: BLE001 (the test reports any failure)
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        slow.close()
    assert errors == []
    for name in upstream_files(("sentiment",)):
        assert (tmp_path / "cache" / name).read_bytes() == (cad_dir / name).read_bytes()
