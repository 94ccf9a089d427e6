"""A lean HTTP/1.1 client for the one request the answering path makes per message: a JSON POST
to a platform host over a kept-alive connection (plain or TLS), answered with a small JSON body.

Why not urllib3 alone: measured on the answering consumer, urllib3's urlopen with http.client's
response parsing (an email.parser per response) was a third of the CPU of a whole answer. This
client writes the request in one `sendall` and reads the answer with a parser for exactly what
the platforms send (a status line, headers, a Content-Length or chunked body), so a POST costs a
fraction of that. Everything else (a proxy, a netrc login, GETs, downloads) stays on requests.

The semantics the callers rely on are urllib3's:
- a connection idle in the pool is checked before reuse (readable means the server closed it or
  sent something unasked: it is dropped and another is used), as urllib3's is_connection_dropped;
- failures raise `ConnectFailed` when nothing was sent (refused, unresolved, connect timeout),
  `ReadTimedOut` when the request was written and no answer came within the read timeout, and
  `Broken` when the connection broke after the request may have been written;
- a connection is put back only after its answer was read whole and neither side asked to close.
Thread-safe: each request takes a connection out of its host's pool and puts it back after.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from collections import deque

MAX_HEAD = 64 * 1024  # a status line and headers longer than this are refused
MAX_BODY = 16 * 1024 * 1024


class HttpError(Exception):
    """Base of this module's failures."""


class ConnectFailed(HttpError):
    """No connection was made: nothing was sent."""

    def __init__(self, msg: str, timeout: bool = False):
        super().__init__(msg)
        self.timeout = timeout


class ReadTimedOut(HttpError):
    """The request was written; no (whole) answer came in time."""


class Broken(HttpError):
    """The connection broke or the answer was malformed after the request may have been sent."""


class _Conn:
    __slots__ = ("sock", "buf")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def dropped(self) -> bool:
        """Whether an idle connection was closed by the server (or holds unasked bytes)."""
        if self.buf:
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Pool:
    """Kept-alive connections to one (scheme, host, port), at most `maxsize` kept idle."""

    def __init__(
        self, scheme: str, host: str, port: int, maxsize: int, ssl_context: ssl.SSLContext | None
    ) -> None:
        self.scheme, self.host, self.port, self.maxsize = scheme, host, port, maxsize
        self.ssl_context = ssl_context
        self.host_header = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
        self._idle: deque[_Conn] = deque()
        self._lock = threading.Lock()
        self.opened = 0

    def _take(self, connect_timeout: float) -> _Conn:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect(connect_timeout)
            if conn.dropped():
                conn.close()
                continue
            return conn

    def _connect(self, timeout: float) -> _Conn:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except TimeoutError as e:
            raise ConnectFailed(f"connect timeout: {e}", timeout=True) from None
        except OSError as e:  # refused, unreachable, unresolved (socket.gaierror)
            raise ConnectFailed(f"{type(e).__name__}: {e}") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        except ssl.SSLError:
            sock.close()
            raise
        except TimeoutError as e:
            sock.close()
            raise ConnectFailed(f"TLS handshake timeout: {e}", timeout=True) from None
        except OSError as e:
            sock.close()
            raise ConnectFailed(f"{type(e).__name__}: {e}") from None
        self.opened += 1
        return _Conn(sock)

    def _give_back(self, conn: _Conn) -> None:
        with self._lock:
            if len(self._idle) < self.maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = list(self._idle), deque()
        for c in idle:
            c.close()

    def post(
        self, target: str, body: bytes, headers: dict[str, str], timeout: tuple[float, float]
    ) -> tuple[int, bytes]:
        """POST `body` to `target` (path and query): (status, response body)."""
        head = [f"POST {target} HTTP/1.1\r\nHost: {self.host_header}\r\n"]
        for name, value in headers.items():
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r} holds a line break")
            head.append(f"{name}: {value}\r\n")
        head.append(f"Content-Length: {len(body)}\r\n\r\n")
        data = "".join(head).encode("latin-1") + body
        conn = self._take(timeout[0])
        try:
            conn.sock.settimeout(timeout[1])
            conn.sock.sendall(data)
            status, payload, keep = _read_response(conn)
        except TimeoutError as e:
            conn.close()
            raise ReadTimedOut(str(e) or "read timed out") from None
        except (OSError, ValueError, Broken) as e:
            conn.close()
            raise Broken(f"{type(e).__name__}: {e}") from None
        if keep:
            self._give_back(conn)
        else:
            conn.close()
        return status, payload


def _read_response(conn: _Conn) -> tuple[int, bytes, bool]:
    """Status, body and whether the connection may be kept; skips 1xx answers."""
    while True:
        head = _read_head(conn)
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise Broken(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        try:
            status = int(parts[1])
        except ValueError:
            raise Broken(f"bad status: {parts[1][:20]!r}") from None
        fields: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise Broken(f"bad header line: {line[:80]!r}")
            fields[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            continue
        break
    keep = parts[0] == b"HTTP/1.1"
    conn_field = fields.get(b"connection", b"").lower()
    if b"close" in conn_field:
        keep = False
    elif b"keep-alive" in conn_field:
        keep = True
    if status in (204, 304):
        return status, b"", keep
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        return status, _read_chunked(conn), keep
    length = fields.get(b"content-length")
    if length is not None:
        try:
            n = int(length)
        except ValueError:
            raise Broken(f"bad Content-Length: {length[:20]!r}") from None
        if n < 0 or n > MAX_BODY:
            raise Broken(f"Content-Length out of range: {n}")
        return status, _read_exact(conn, n), keep
    return status, _read_to_close(conn), False


def _recv(conn: _Conn) -> bytes:
    chunk = conn.sock.recv(65536)
    if not chunk:
        raise Broken("connection closed by the server")
    return chunk


def _read_head(conn: _Conn) -> bytes:
    buf = conn.buf
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            conn.buf = buf[end + 4 :]
            return buf[:end]
        if len(buf) > MAX_HEAD:
            raise Broken("response head too long")
        buf += _recv(conn)


def _read_exact(conn: _Conn, n: int) -> bytes:
    buf = conn.buf
    while len(buf) < n:
        buf += _recv(conn)
    conn.buf = buf[n:]
    return buf[:n]


def _read_line(conn: _Conn) -> bytes:
    buf = conn.buf
    while True:
        end = buf.find(b"\r\n")
        if end >= 0:
            conn.buf = buf[end + 2 :]
            return buf[:end]
        if len(buf) > MAX_HEAD:
            raise Broken("chunk line too long")
        buf += _recv(conn)
        conn.buf = buf


def _read_chunked(conn: _Conn) -> bytes:
    out = []
    total = 0
    while True:
        size_line = _read_line(conn).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise Broken(f"bad chunk size: {size_line[:20]!r}") from None
        if size == 0:
            while _read_line(conn):  # trailer fields, up to the empty line
                pass
            return b"".join(out)
        total += size
        if total > MAX_BODY:
            raise Broken("chunked body too long")
        out.append(_read_exact(conn, size))
        if _read_exact(conn, 2) != b"\r\n":
            raise Broken("chunk not followed by CRLF")


def _read_to_close(conn: _Conn) -> bytes:
    out = [conn.buf]
    conn.buf = b""
    total = len(out[0])
    while True:
        chunk = conn.sock.recv(65536)
        if not chunk:
            return b"".join(out)
        total += len(chunk)
        if total > MAX_BODY:
            raise Broken("body too long")
        out.append(chunk)
