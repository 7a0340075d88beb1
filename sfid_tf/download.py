"""One download layer for every remote file sfid_tf needs (Inception graph, reference batches).

Files land in a cache directory, are fetched through a resumable ``.part`` file with retries,
are verified (size, sha256) before they become visible, and are re-verified cheaply on later
use through a ``.sha256`` sidecar. Every failure the user can fix is a one-line ``SfidError``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

import requests
from tqdm import tqdm

from sfid_tf.errors import SfidError, warn

CACHE_ENV = "SFID_TF_CACHE"
OFFLINE_ENV = "SFID_TF_OFFLINE"
RETRY_BASE_ENV = "SFID_TF_RETRY_BASE_S"
DEFAULT_CACHE = Path("~/.cache/sfid_tf")

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
# Small enough that a dropped connection loses little (urllib3 discards a partly filled chunk).
CHUNK_SIZE = 1 << 16
HASH_CHUNK_SIZE = 1 << 22
MAX_TRIES = 4
# Seconds before the first retry; doubles on each later one. Tests lower it.
RETRY_BASE_S = float(os.environ.get(RETRY_BASE_ENV, "0.5"))

PART_SUFFIX = ".part"
LOCK_SUFFIX = ".lock"
SIDECAR_SUFFIX = ".sha256"
_TRUTHY = {"1", "true", "yes"}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_OS_ERROR = re.compile(r"\[Errno -?\d+\] [^'\")]+")
_READ_TIMEOUT = re.compile(r"Read timed out\.?")


class _Retryable(Exception):
    """A transient failure (network hiccup, 5xx): worth another try of the same URL."""


# --------------------------------------------------------------------------- settings


def cache_dir() -> Path:
    """Where downloads live: ``$SFID_TF_CACHE`` or ``~/.cache/sfid_tf``, created on demand."""
    root = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SfidError(f"cannot create cache directory {root}: {e.strerror or e}; set {CACHE_ENV}") from None
    return root


def is_offline() -> bool:
    """True when ``SFID_TF_OFFLINE`` asks us never to touch the network (air-gapped clusters)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in _TRUTHY


# --------------------------------------------------------------------------- public entry point


def fetch(
    urls: str | Sequence[str],
    dest: Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    offline: bool | None = None,
    desc: str | None = None,
) -> Path:
    """Return ``dest``, downloading it from the first working URL unless a valid copy is cached.

    The whole check-and-download runs under an exclusive lock so that concurrent processes
    end with one good file: the second one waits, then finds the first one's result.
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    if not url_list:
        raise ValueError("fetch() needs at least one URL")
    dest = Path(dest)
    sha256 = sha256.lower() if sha256 else None
    offline = is_offline() if offline is None else offline
    with _locked(dest):
        problem = _validate_cached(dest, size, sha256)
        if problem is None:
            _discard(Path(str(dest) + PART_SUFFIX))  # a stale partial copy is no longer needed
            return dest
        if offline:
            raise SfidError(_offline_message(dest, url_list, problem))
        if problem != "missing":
            warn(f"cached {dest} is invalid ({problem}); downloading it again")
        _discard(dest, Path(str(dest) + SIDECAR_SUFFIX))
        url = _download_any(url_list, dest, size, sha256, desc or dest.name)
        _write_sidecar(dest, _sha256_of(dest) if sha256 is None else sha256, url)
    return dest


def _offline_message(dest: Path, urls: list[str], problem: str) -> str:
    """Explain why an offline fetch cannot succeed and how the user can supply the file."""
    where = " or ".join(urls)
    if problem == "missing":
        return (f"{dest.name} is not cached and offline mode is on: download {where} "
                f"and put the file at {dest}, or pass the path to a local copy")
    return (f"cached {dest} is invalid ({problem}) and offline mode is on: "
            f"replace it with a good copy of {where}, or pass the path to a local copy")


# --------------------------------------------------------------------------- cache validation


def _validate_cached(dest: Path, size: int | None, sha256: str | None) -> str | None:
    """None when ``dest`` may be used; otherwise why it must be (re)fetched.

    Raises when the only reference is our own sidecar and the file no longer matches it:
    we cannot tell whether the file or the record is right, so the user must decide.
    """
    try:
        st = dest.stat()
    except FileNotFoundError:
        return "missing"
    if size is not None and st.st_size != size:
        return f"size {st.st_size} bytes, expected {size}"
    record = _read_sidecar(dest)
    actual = _recorded_or_hashed(dest, st, record)
    if sha256 is not None and actual != sha256:
        return f"sha256 {actual}, expected {sha256}"
    if sha256 is None and record is not None and record["sha256"] != actual:
        sidecar = Path(str(dest) + SIDECAR_SUFFIX)
        raise SfidError(f"{dest} changed since it was downloaded (sha256 {actual}, recorded "
                        f"{record['sha256']}); delete {dest} and {sidecar} to download it again")
    if record is None or record["sha256"] != actual or not _record_matches(record, st):
        _write_sidecar(dest, actual, record.get("url") if record else None)
    return None


def _recorded_or_hashed(dest: Path, st: os.stat_result, record: dict | None) -> str:
    """The file's sha256, taken from the sidecar when size and mtime prove it is unchanged.

    Re-hashing a multi-GB batch on every run would cost seconds to minutes.
    """
    if record is not None and _record_matches(record, st):
        return record["sha256"]
    return _sha256_of(dest)


def _record_matches(record: dict, st: os.stat_result) -> bool:
    """True when the sidecar was written for exactly this version (size, mtime) of the file."""
    return record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns


def _read_sidecar(dest: Path) -> dict | None:
    """The recorded {sha256, size, mtime_ns, url} of ``dest``, or None when absent or unreadable."""
    try:
        record = json.loads(Path(str(dest) + SIDECAR_SUFFIX).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("sha256"), str):
        return None
    return record


def _write_sidecar(dest: Path, sha256: str, url: str | None) -> None:
    """Record the file's sha256 with its size and mtime; best effort so read-only caches still work."""
    st = dest.stat()
    record = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "url": url}
    sidecar = Path(str(dest) + SIDECAR_SUFFIX)
    tmp = Path(f"{sidecar}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record) + "\n")
        os.replace(tmp, sidecar)
    except OSError:
        _discard(tmp)


def _sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in large chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(HASH_CHUNK_SIZE):
                digest.update(chunk)
    except OSError as e:
        raise SfidError(f"cannot read {path}: {e.strerror or e}") from None
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of any file, remembered in the cache by (path, size, mtime) so that a large
    reference batch is hashed once, not on every run; a cache sidecar is used when present."""
    path = Path(path).resolve()
    st = path.stat()
    sidecar = _read_sidecar(path)
    if sidecar is not None and _record_matches(sidecar, st):
        return sidecar["sha256"]
    memo = cache_dir() / "hashes" / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".json")
    try:
        record = json.loads(memo.read_text())
    except (OSError, ValueError):
        record = None
    if isinstance(record, dict) and record.get("path") == str(path) and _record_matches(record, st):
        return record["sha256"]
    digest = _sha256_of(path)
    record = {"path": str(path), "sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    try:
        memo.parent.mkdir(exist_ok=True)
        tmp = Path(f"{memo}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record) + "\n")
        os.replace(tmp, memo)
    except OSError:
        pass  # a read-only cache only costs re-hashing next time
    return digest


# --------------------------------------------------------------------------- locking and cleanup


@contextlib.contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``dest.lock``; unlocked only if the directory is read-only.

    The lock file is left in place: unlinking it would let a third process lock a new inode
    while a second still waits on the old one.
    """
    lock_path = Path(str(dest) + LOCK_SUFFIX)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield  # read-only location: reading works, a download will fail with a clear error
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _discard(*paths: Path) -> None:
    """Remove files if present, ignoring the ones that are already gone."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# --------------------------------------------------------------------------- downloading


def _download_any(urls: list[str], dest: Path, size: int | None, sha256: str | None, desc: str) -> str:
    """Download into ``dest`` from the first URL that yields a valid file; return that URL."""
    errors: list[str] = []
    for url in urls:
        try:
            _download_verified(url, dest, size, sha256, desc)
            return url
        except SfidError as e:
            errors.append(str(e))
    if len(errors) == 1:
        raise SfidError(errors[0])
    raise SfidError(f"could not download {dest.name} from any of {len(urls)} URLs: " + "; ".join(errors))


def _download_verified(url: str, dest: Path, size: int | None, sha256: str | None, desc: str) -> None:
    """Fetch ``url`` into ``dest.part``, check it, then atomically move it to ``dest``."""
    part = Path(str(dest) + PART_SUFFIX)
    with requests.Session() as session:
        _download_with_retries(session, url, part, size, desc)
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        _discard(part)
        raise SfidError(f"size mismatch for {url}: expected {size} bytes, got {got_size}")
    if sha256 is not None:
        got = _sha256_of(part)
        if got != sha256:
            _discard(part)
            raise SfidError(f"sha256 mismatch for {url}: expected {sha256}, got {got}")
    os.replace(part, dest)


def _download_with_retries(session: requests.Session, url: str, part: Path, size: int | None, desc: str) -> None:
    """Stream ``url`` into ``part``, resuming after transient failures with exponential backoff.

    A try that made progress does not count against the limit: a flaky link that keeps
    dropping a 10 GB transfer still finishes, while a dead one gives up after MAX_TRIES.
    """
    failures = 0
    while True:
        before = _part_size(part)
        try:
            _stream_once(session, url, part, size, desc)
            return
        except _Retryable as e:
            if _part_size(part) > before:
                failures = 0
            failures += 1
            if failures >= MAX_TRIES:
                raise SfidError(f"download failed after {MAX_TRIES} tries: {url}: {e}") from None
            delay = RETRY_BASE_S * 2 ** (failures - 1)
            warn(f"{url}: {e}; retrying in {delay:g} s")
            time.sleep(delay)


def _part_size(part: Path) -> int:
    """Bytes already downloaded into ``part`` (0 when there is none)."""
    try:
        return part.stat().st_size
    except FileNotFoundError:
        return 0


def _stream_once(session: requests.Session, url: str, part: Path, size: int | None, desc: str) -> None:
    """One HTTP request: append the response body to ``part``; raise _Retryable on transient errors."""
    try:
        response, offset = _open(session, url, part)
        with response:
            total = _total_size(response, offset) or size
            received = _write_body(response, part, offset, total, desc)
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
        raise _Retryable(_short(e)) from None
    except requests.RequestException as e:  # bad URL, redirect loop: retrying will not help
        raise SfidError(f"cannot download {url}: {_short(e)}") from None
    expected = _body_length(response)
    if expected is not None and received < expected:
        raise _Retryable(f"connection closed after {received} of {expected} bytes")


def _open(session: requests.Session, url: str, part: Path) -> tuple[requests.Response, int]:
    """Send the request, resuming from ``part`` when the server honours Range; return (response, offset)."""
    offset = _part_size(part)
    response = _get(session, url, offset)
    if offset and response.status_code == 416:  # our .part is longer than the file: start over
        response.close()
        offset = 0
        response = _get(session, url, 0)
    _check_status(response, url)
    if offset and not _resumes_at(response, offset):  # 200 (Range ignored) or a different range
        if response.status_code == 206:
            response.close()
            response = _get(session, url, 0)
            _check_status(response, url)
        offset = 0
    return response, offset


def _get(session: requests.Session, url: str, offset: int) -> requests.Response:
    """Streaming GET; asks for identity encoding so byte counts match the file on disk."""
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return session.get(url, headers=headers, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))


def _check_status(response: requests.Response, url: str) -> None:
    """Turn HTTP errors into SfidError (4xx: permanent) or _Retryable (5xx: transient)."""
    code = response.status_code
    if code < 400:
        return
    response.close()
    if code == 404:
        raise SfidError(f"not found: {url}")
    if code >= 500:
        raise _Retryable(f"HTTP {code} {response.reason}")
    raise SfidError(f"HTTP {code} {response.reason}: {url}")


def _resumes_at(response: requests.Response, offset: int) -> bool:
    """True when the response is a 206 whose Content-Range starts exactly at ``offset``."""
    if response.status_code != 206:
        return False
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    return match is not None and int(match.group(1)) == offset


def _total_size(response: requests.Response, offset: int) -> int | None:
    """Full file size from Content-Range (206) or Content-Length (200), if the server says."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        return int(match.group(3)) if match and match.group(3) != "*" else None
    length = _body_length(response)
    return None if length is None else offset + length


def _body_length(response: requests.Response) -> int | None:
    """Content-Length of this response body, or None when absent or malformed."""
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _write_body(response: requests.Response, part: Path, offset: int, total: int | None, desc: str) -> int:
    """Write the body to ``part`` (appending at ``offset``) with a progress bar; return bytes received."""
    received = 0
    try:
        with open(part, "ab" if offset else "wb") as f, tqdm(
            total=total, initial=offset, desc=desc, unit="B", unit_scale=True,
            unit_divisor=1024, file=sys.stderr, leave=False,
        ) as bar:
            for chunk in response.iter_content(CHUNK_SIZE):
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    except OSError as e:
        if isinstance(e, requests.RequestException):
            raise
        raise SfidError(f"cannot write {part}: {e.strerror or e}") from None
    return received


def _short(error: Exception) -> str:
    """A one-line description of a requests exception (whose text nests long reprs)."""
    text = str(error)
    cause = _OS_ERROR.search(text) or _READ_TIMEOUT.search(text)
    detail = cause.group(0) if cause else (text.splitlines()[0][:200] if text else "")
    return f"{type(error).__name__}: {detail}".rstrip(": ")


# --------------------------------------------------------------------------- archives


def extract_from_tgz(archive: Path, member_name: str, dest: Path) -> Path:
    """Extract the regular file named ``member_name`` (by basename) from a tar archive to ``dest``.

    Written to a temporary file and renamed so a crash never leaves a half-written ``dest``;
    members with absolute or ``..`` paths, links and devices are refused.
    """
    archive, dest = Path(archive), Path(dest)
    try:
        with tarfile.open(archive, "r:*") as tar:
            member = _find_member(tar, archive, member_name)
            source = tar.extractfile(member)
            if source is None:
                raise SfidError(f"{member.name} in {archive} is not a regular file")
            with source:
                _write_atomically(source, dest)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise SfidError(f"cannot extract {member_name} from {archive}: {e}") from None
    return dest


def _find_member(tar: tarfile.TarFile, archive: Path, member_name: str) -> tarfile.TarInfo:
    """The single safe regular-file member whose basename is ``member_name``."""
    matches = [m for m in tar.getmembers() if PurePosixPath(m.name).name == member_name]
    if not matches:
        raise SfidError(f"{member_name} not found in {archive}")
    if len(matches) > 1:
        raise SfidError(f"{archive} holds {len(matches)} members named {member_name}: " +
                        ", ".join(m.name for m in matches))
    member = matches[0]
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or not member.isreg():
        raise SfidError(f"refusing unsafe member {member.name!r} in {archive}")
    return member


def _write_atomically(source: IO[bytes], dest: Path) -> None:
    """Copy a binary stream to ``dest`` via a temporary file in the same directory."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK_SIZE):
                out.write(chunk)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shared cache needs it readable
        os.replace(tmp, dest)
    except BaseException:
        _discard(Path(tmp))
        raise
