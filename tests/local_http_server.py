"""A real HTTP file server on 127.0.0.1 with scriptable faults, for testing downloads offline.

Usage::

    with FileServer(tmp_path) as server:
        (tmp_path / "a.bin").write_bytes(data)
        server.fail_next("a.bin", 2)          # next two GETs answer 503
        server.drop_after("a.bin", 1000)      # once: close the socket after 1000 body bytes
        fetch(server.url("a.bin"), dest)
        assert server.count("a.bin") == 4

Supports ``Range: bytes=N-`` / ``bytes=N-M`` (206, 416), keeps a log of every request.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
_SEND_CHUNK = 16 * 1024


@dataclass
class _Faults:
    """What to do wrong for one path."""

    fail_times: int = 0
    fail_status: int = 503
    drop_after: int | None = None
    stall_seconds: float = 0.0
    not_found: bool = False
    ignore_range: bool = False
    seconds: float = 0.0


@dataclass
class Request:
    """One logged GET: the path (without leading slash) and its Range header, if any."""

    path: str
    range: str | None
    headers: dict[str, str] = field(default_factory=dict)


class FileServer:
    """Serves files under ``root`` on an ephemeral 127.0.0.1 port from a background thread."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.log: list[Request] = []
        self._faults: dict[str, _Faults] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    # -- lifecycle
    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def url(self, name: str) -> str:
        """The URL of ``root/name``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{name}"

    # -- scripting faults
    def fail_next(self, name: str, times: int, status: int = 503) -> None:
        """Answer the next ``times`` GETs of ``name`` with ``status``."""
        with self._lock:
            f = self._faults_for(name)
            f.fail_times, f.fail_status = times, status

    def drop_after(self, name: str, nbytes: int) -> None:
        """Once: send ``nbytes`` of the body, then close the connection abruptly."""
        with self._lock:
            self._faults_for(name).drop_after = nbytes

    def stall(self, name: str, nbytes: int, seconds: float) -> None:
        """Once: send ``nbytes`` of the body, go silent for ``seconds``, then close the connection."""
        with self._lock:
            f = self._faults_for(name)
            f.drop_after, f.stall_seconds = nbytes, seconds

    def not_found(self, name: str) -> None:
        """Answer 404 for ``name`` even if the file exists."""
        with self._lock:
            self._faults_for(name).not_found = True

    def ignore_range(self, name: str) -> None:
        """Ignore Range headers for ``name``: always answer 200 with the whole file."""
        with self._lock:
            self._faults_for(name).ignore_range = True

    def throttle(self, name: str, seconds: float) -> None:
        """Spread each full body of ``name`` over about ``seconds``."""
        with self._lock:
            self._faults_for(name).seconds = seconds

    # -- inspection
    def requests_for(self, name: str) -> list[Request]:
        """Logged GETs of ``name``, oldest first."""
        with self._lock:
            return [r for r in self.log if r.path == name]

    def count(self, name: str | None = None) -> int:
        """How many GETs of ``name`` (or of anything) were received."""
        with self._lock:
            return sum(1 for r in self.log if name is None or r.path == name)

    def ranges(self, name: str) -> list[str | None]:
        """The Range header of each GET of ``name`` (None where absent)."""
        return [r.range for r in self.requests_for(name)]

    def _faults_for(self, name: str) -> _Faults:
        return self._faults.setdefault(name, _Faults())

    def _take_faults(self, name: str) -> tuple[int | None, int | None, float, bool, float]:
        """Consume this request's faults: (error status, drop-after bytes, stall, ignore range, seconds)."""
        with self._lock:
            f = self._faults_for(name)
            status = None
            if f.fail_times > 0:
                f.fail_times -= 1
                status = f.fail_status
            elif f.not_found:
                status = 404
            if status is not None:
                return status, None, 0.0, f.ignore_range, f.seconds
            drop, stall = f.drop_after, f.stall_seconds
            f.drop_after, f.stall_seconds = None, 0.0
            return status, drop, stall, f.ignore_range, f.seconds


def _make_handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            name = self.path.lstrip("/").split("?")[0]
            with server._lock:
                server.log.append(Request(name, self.headers.get("Range"), dict(self.headers)))
            status, drop, stall, ignore_range, seconds = server._take_faults(name)
            path = server.root / name
            if status is not None or ".." in name.split("/") or not path.is_file():
                self._send_status(status or 404)
                return
            data = path.read_bytes()
            start, end = 0, len(data) - 1
            match = _RANGE.fullmatch(self.headers.get("Range", "").strip())
            if match and not ignore_range:
                start = int(match.group(1))
                end = min(int(match.group(2)), end) if match.group(2) else end
                if start >= len(data) or start > end:
                    self._send_status(416, {"Content-Range": f"bytes */{len(data)}"})
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(end - start + 1))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            self._send_body(data[start:end + 1], drop, stall, seconds * (end - start + 1) / max(len(data), 1))

        def _send_status(self, code: int, headers: dict[str, str] | None = None) -> None:
            body = f"{code}\n".encode()
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send_body(self, body: bytes, drop: int | None, stall: float, seconds: float) -> None:
            limit = len(body) if drop is None else min(drop, len(body))
            pause = seconds * _SEND_CHUNK / max(len(body), 1)
            try:
                for i in range(0, limit, _SEND_CHUNK):
                    self.wfile.write(body[i:min(i + _SEND_CHUNK, limit)])
                    if pause:
                        time.sleep(pause)
                if drop is not None:
                    self.wfile.flush()
                    time.sleep(stall)
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler
