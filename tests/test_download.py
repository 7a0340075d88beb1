"""Tests for sfid_tf.download against a real HTTP server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest

from sfid_tf import download
from sfid_tf.download import cache_dir, extract_from_tgz, fetch, is_offline
from sfid_tf.errors import SfidError

try:
    from local_http_server import FileServer
except ImportError:  # tests/ became a package
    from tests.local_http_server import FileServer

DATA = bytes(range(256)) * 1200  # 307_200 bytes
DATA_SHA = hashlib.sha256(DATA).hexdigest()
NAME = "batch.npz"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test off the real cache, out of offline mode, off proxies, and fast."""
    monkeypatch.setenv("SFID_TF_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SFID_TF_OFFLINE", raising=False)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    monkeypatch.setattr(download, "RETRY_BASE_S", 0.001)


@pytest.fixture
def server(tmp_path: Path):
    with FileServer(tmp_path / "srv") as srv:
        (srv.root / NAME).write_bytes(DATA)
        yield srv


@pytest.fixture
def dest() -> Path:
    return cache_dir() / NAME


def leftovers(directory: Path) -> set[str]:
    """Names in ``directory`` other than the file, its sidecar and its lock."""
    return {p.name for p in directory.iterdir()} - {NAME, NAME + ".sha256", NAME + ".lock"}


# --------------------------------------------------------------------------- basics


def test_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFID_TF_CACHE", str(tmp_path / "elsewhere"))
    assert cache_dir() == tmp_path / "elsewhere" and cache_dir().is_dir()
    for value, expected in [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)]:
        monkeypatch.setenv("SFID_TF_OFFLINE", value)
        assert is_offline() is expected


def test_first_download_writes_file_and_sidecar(server: FileServer, dest: Path) -> None:
    assert fetch(server.url(NAME), dest) == dest
    assert dest.read_bytes() == DATA
    record = json.loads(Path(str(dest) + ".sha256").read_text())
    assert record["sha256"] == DATA_SHA
    assert record["size"] == len(DATA) and record["mtime_ns"] == dest.stat().st_mtime_ns
    assert server.ranges(NAME) == [None]
    assert leftovers(dest.parent) == set()


@pytest.mark.parametrize("known", [False, True])
def test_cached_second_use_makes_no_request(server: FileServer, dest: Path, known: bool) -> None:
    kwargs = {"size": len(DATA), "sha256": DATA_SHA} if known else {}
    fetch(server.url(NAME), dest, **kwargs)
    fetch(server.url(NAME), dest, **kwargs)
    assert server.count() == 1


def test_unchanged_file_is_not_rehashed(server: FileServer, dest: Path, monkeypatch) -> None:
    calls: list[Path] = []
    real = download._sha256_of
    monkeypatch.setattr(download, "_sha256_of", lambda p: calls.append(p) or real(p))
    fetch(server.url(NAME), dest, sha256=DATA_SHA)
    calls.clear()
    fetch(server.url(NAME), dest, sha256=DATA_SHA)
    assert calls == []
    st = dest.stat()
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: hash once more
    fetch(server.url(NAME), dest, sha256=DATA_SHA)
    assert calls == [dest]
    fetch(server.url(NAME), dest, sha256=DATA_SHA)
    assert calls == [dest] and server.count() == 1


# --------------------------------------------------------------------------- network faults


def test_resume_after_connection_drop(server: FileServer, dest: Path) -> None:
    server.drop_after(NAME, 100_000)
    fetch(server.url(NAME), dest, sha256=DATA_SHA)
    assert dest.read_bytes() == DATA
    first, resumed = server.ranges(NAME)
    assert first is None and resumed.startswith("bytes=")
    assert 0 < int(resumed[len("bytes="):-1]) <= 100_000  # kept what arrived before the drop
    assert leftovers(dest.parent) == set()


def test_resume_after_read_timeout(server: FileServer, dest: Path, monkeypatch) -> None:
    monkeypatch.setattr(download, "READ_TIMEOUT_S", 0.2)
    server.stall(NAME, 100_000, seconds=1.0)
    fetch(server.url(NAME), dest, sha256=DATA_SHA)
    assert dest.read_bytes() == DATA
    assert server.count(NAME) == 2 and server.ranges(NAME)[1] is not None


def test_retry_after_503(server: FileServer, dest: Path) -> None:
    server.fail_next(NAME, 1)
    fetch(server.url(NAME), dest)
    assert dest.read_bytes() == DATA and server.count(NAME) == 2


def test_gives_up_after_max_tries(server: FileServer, dest: Path) -> None:
    server.fail_next(NAME, 100)
    with pytest.raises(SfidError, match=f"{download.MAX_TRIES} tries.*503"):
        fetch(server.url(NAME), dest)
    assert server.count(NAME) == download.MAX_TRIES and not dest.exists()


def test_404_is_clear_and_not_retried(server: FileServer, dest: Path) -> None:
    url = server.url("nope.npz")
    with pytest.raises(SfidError) as info:
        fetch(url, dest)
    assert str(info.value) == f"not found: {url}"
    assert server.count() == 1 and not dest.exists()


def test_server_ignoring_range_restarts_from_zero(server: FileServer, dest: Path) -> None:
    Path(str(dest) + ".part").write_bytes(b"x" * 5000)  # stale garbage: must not survive
    server.ignore_range(NAME)
    fetch(server.url(NAME), dest, sha256=DATA_SHA)
    assert dest.read_bytes() == DATA and server.ranges(NAME) == ["bytes=5000-"]


def test_416_restarts_from_zero(server: FileServer, dest: Path) -> None:
    Path(str(dest) + ".part").write_bytes(b"x" * (len(DATA) + 10))
    fetch(server.url(NAME), dest)
    assert dest.read_bytes() == DATA
    assert server.ranges(NAME) == [f"bytes={len(DATA) + 10}-", None]


def test_fallback_to_second_url(server: FileServer, dest: Path) -> None:
    server.not_found("mirror.npz")
    fetch([server.url("mirror.npz"), server.url(NAME)], dest)
    assert dest.read_bytes() == DATA
    assert server.count("mirror.npz") == 1 and server.count(NAME) == 1


def test_all_urls_failing_names_each(server: FileServer, dest: Path) -> None:
    urls = [server.url("a.npz"), server.url("b.npz")]
    with pytest.raises(SfidError, match="any of 2 URLs") as info:
        fetch(urls, dest)
    assert all(url in str(info.value) for url in urls)


# --------------------------------------------------------------------------- verification


def test_wrong_sha256_refuses_file(server: FileServer, dest: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(SfidError) as info:
        fetch(server.url(NAME), dest, sha256=wrong)
    message = str(info.value)
    assert wrong in message and DATA_SHA in message and server.url(NAME) in message
    assert not dest.exists() and not Path(str(dest) + ".part").exists()
    assert leftovers(dest.parent) == set()


def test_wrong_size_refuses_file(server: FileServer, dest: Path) -> None:
    with pytest.raises(SfidError, match="size mismatch"):
        fetch(server.url(NAME), dest, size=len(DATA) + 1)
    assert not dest.exists() and leftovers(dest.parent) == set()


@pytest.mark.parametrize("damage", ["truncate", "flip_byte"])
def test_corrupt_cached_file_with_known_hash_is_refetched(server: FileServer, dest: Path, damage: str) -> None:
    fetch(server.url(NAME), dest, size=len(DATA), sha256=DATA_SHA)
    bad = DATA[: len(DATA) // 2] if damage == "truncate" else b"\xff" + DATA[1:]
    dest.write_bytes(bad)
    fetch(server.url(NAME), dest, size=len(DATA), sha256=DATA_SHA)
    assert dest.read_bytes() == DATA and server.count(NAME) == 2


def test_changed_cached_file_without_known_hash_is_an_error(server: FileServer, dest: Path) -> None:
    fetch(server.url(NAME), dest)
    dest.write_bytes(b"\xff" + DATA[1:])
    st = dest.stat()
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a distinct mtime on any filesystem
    with pytest.raises(SfidError, match="changed since it was downloaded") as info:
        fetch(server.url(NAME), dest)
    assert str(dest) in str(info.value)
    assert server.count() == 1


# --------------------------------------------------------------------------- offline


def test_offline_with_file_present_makes_no_request(server: FileServer, dest: Path, monkeypatch) -> None:
    fetch(server.url(NAME), dest)
    assert fetch(server.url(NAME), dest, offline=True) == dest
    monkeypatch.setenv("SFID_TF_OFFLINE", "1")
    assert fetch(server.url(NAME), dest) == dest
    assert server.count() == 1


@pytest.mark.parametrize("via_env", [False, True])
def test_offline_with_file_absent_is_clear(server: FileServer, dest: Path, monkeypatch, via_env: bool) -> None:
    if via_env:
        monkeypatch.setenv("SFID_TF_OFFLINE", "yes")
    with pytest.raises(SfidError) as info:
        fetch(server.url(NAME), dest, offline=None if via_env else True)
    message = str(info.value)
    assert str(dest) in message and server.url(NAME) in message and "offline" in message
    assert "\n" not in message and server.count() == 0


# --------------------------------------------------------------------------- concurrency

_CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from sfid_tf.download import fetch
    ready, go, url, dest, sha = sys.argv[1:]
    Path(ready).touch()
    while not os.path.exists(go):
        time.sleep(0.005)
    fetch(url, Path(dest), sha256=sha)
""")


def test_two_processes_end_with_one_good_file(server: FileServer, dest: Path, tmp_path: Path) -> None:
    server.throttle(NAME, 0.6)  # long enough that the two fetches overlap
    go = tmp_path / "go"
    env = {**os.environ, "SFID_TF_RETRY_BASE_S": "0.001"}
    procs = []
    for i in range(2):
        args = [str(tmp_path / f"ready{i}"), str(go), server.url(NAME), str(dest), DATA_SHA]
        procs.append(subprocess.Popen([sys.executable, "-c", _CHILD, *args], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=30)
        assert p.returncode == 0, err.decode()[-2000:]
    assert dest.read_bytes() == DATA
    assert server.count(NAME) == 1  # the second process waited, then used the first one's file
    assert leftovers(dest.parent) == set()


# --------------------------------------------------------------------------- archives


def make_tgz(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def test_extract_from_tgz(tmp_path: Path) -> None:
    graph = b"graph-bytes" * 1000
    archive = make_tgz(tmp_path / "inception-2015-12-05.tgz", {
        "./LICENSE": b"license",
        "./classify_image_graph_def.pb": graph,
        "./imagenet_synset_to_human_label_map.txt": b"labels",
    })
    out_dir = tmp_path / "out"
    dest = out_dir / "classify_image_graph_def.pb"
    assert extract_from_tgz(archive, "classify_image_graph_def.pb", dest) == dest
    assert dest.read_bytes() == graph
    assert [p.name for p in out_dir.iterdir()] == [dest.name]
    with pytest.raises(SfidError, match="missing.pb not found in"):
        extract_from_tgz(archive, "missing.pb", out_dir / "missing.pb")


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_extract_from_tgz_refuses_unsafe_members(tmp_path: Path, kind: str) -> None:
    if kind == "symlink":
        archive = make_tgz(tmp_path / "a.tgz", {}, symlinks={"g.pb": "/etc/passwd"})
    else:
        name = "../g.pb" if kind == "dotdot" else "/tmp/g.pb"
        archive = make_tgz(tmp_path / "a.tgz", {name: b"evil"})
    with pytest.raises(SfidError, match="unsafe"):
        extract_from_tgz(archive, "g.pb", tmp_path / "out" / "g.pb")
    assert not (tmp_path / "out" / "g.pb").exists()


def test_extract_from_corrupt_archive(tmp_path: Path) -> None:
    archive = tmp_path / "bad.tgz"
    archive.write_bytes(b"not a tarball at all")
    with pytest.raises(SfidError, match="cannot extract"):
        extract_from_tgz(archive, "g.pb", tmp_path / "g.pb")
