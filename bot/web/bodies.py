"""Request bodies read in full, within one deadline, before any handler runs.

A client that announces a body and then stalls (a Content-Length of 100 followed by 5 bytes,
or a chunk-size line that never ends) would hold a server thread for as long as it likes, and
a few dozen such clients hold them all: hooks and /healthz stop answering. So the outermost
WSGI layer reads the body once, into memory (it is at most DUBAN_MAX_BODY_BYTES), with a
watchdog that shuts the socket's reading side when the deadline passes, which ends a blocked
read at once; the client gets 408 and the thread is free again. The platforms send a
callback's body with its headers, so the deadline never touches them.

Under gunicorn the socket is `environ["gunicorn.socket"]`; elsewhere (Werkzeug's development
server, tests) the body is read the same way without a watchdog.
"""

from __future__ import annotations

import heapq
import io
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

READ_DEADLINE_S = 2.0  # a whole body, from its first byte to its last


class Watchdog:
    """One thread per process: `arm(sock, seconds)` shuts the socket's reading side unless
    `disarm(token)` comes first; disarm says whether it fired."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, socket.socket] = {}
        self._fired: set[int] = set()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, sock: socket.socket, seconds: float) -> int:
        token = next(self._seq)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():  # started after a fork
                self._thread = threading.Thread(target=self._run, name="body-watchdog", daemon=True)
                self._thread.start()
            self._armed[token] = sock
            deadline = time.monotonic() + seconds
            if not self._heap or deadline < self._heap[0][0]:
                self._lock.notify()  # otherwise the thread wakes for an earlier one anyway
            heapq.heappush(self._heap, (deadline, token))
        return token

    def disarm(self, token: int) -> bool:
        """Forget the token; True when its deadline had passed (the socket was shut)."""
        with self._lock:
            self._armed.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)  # disarmed in time
                if not self._heap:
                    self._lock.wait()
                    continue
                deadline, token = self._heap[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._lock.wait(left)
                    continue
                heapq.heappop(self._heap)
                sock = self._armed.pop(token)
                self._fired.add(token)
                try:
                    sock.shutdown(socket.SHUT_RD)  # a blocked recv returns b"" at once
                except OSError:
                    pass


_WATCHDOG = Watchdog()


def _plain(start_response: Callable, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ],
    )
    return [body]


class BufferedBodies:
    """WSGI middleware: `app.wsgi_app = BufferedBodies(app.wsgi_app, max_body_bytes)`."""

    def __init__(
        self,
        app: Callable,
        limit: int,
        deadline_s: float = READ_DEADLINE_S,
        larger: tuple[Callable[[str], bool], int, float] | None = None,
    ):
        """`larger`: (is_path, limit, deadline_s) of the few paths whose body may be a file
        (the fill-in page's upload), allowed a larger body and more time to send it."""
        self.app, self.limit, self.deadline_s = app, limit, deadline_s
        self.larger = larger

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        limit, deadline_s = self.limit, self.deadline_s
        if self.larger is not None and self.larger[0](environ.get("PATH_INFO", "")):
            limit, deadline_s = self.larger[1], self.larger[2]
        raw = environ.get("CONTENT_LENGTH") or ""
        if raw.isdigit():
            want = int(raw)
            if want == 0 or want > limit:
                return self.app(environ, start_response)  # nothing to read, or 413 unread
        elif (
            environ.get("wsgi.input_terminated")
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            want = limit + 1  # enough to tell the app it is too large
        else:
            return self.app(environ, start_response)  # no body (see bot/web/hooks.py)
        sock = environ.get("gunicorn.socket")
        token = _WATCHDOG.arm(sock, deadline_s) if sock is not None else None
        try:
            data = _read(environ["wsgi.input"], want)
            error = None
        except Exception as e:  # a malformed chunked body, or the socket shut by the watchdog
            data, error = b"", e
        late = token is not None and _WATCHDOG.disarm(token)
        if late or (raw.isdigit() and len(data) < want):
            log.warning("request body not received within %ss: 408", deadline_s)
            return _plain(start_response, "408 Request Timeout", "请求体未在时限内送达。")
        if error is not None:
            return _plain(start_response, "400 Bad Request", "请求体格式有误。")
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


def _read(stream, want: int) -> bytes:
    """Up to `want` bytes: fewer only when the body (or the connection) ends first."""
    parts, got = [], 0
    while got < want:
        chunk = stream.read(min(want - got, 65536))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
