"""GET|POST /hooks/<platform>: the platform callbacks, answered straight from WSGI.

The callback core (bot/inbound.py) is framework-free, so this adapter only turns the WSGI
environ into an HttpIn and the HttpOut back into a response, in front of the Flask app: a
callback pays for no request context, routing, cookie session or Response object. Everything
else goes on to Flask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from bot.commands import Unfinished
from bot.inbound import handle_callback
from bot.messages import HttpIn, HttpOut

log = logging.getLogger(__name__)

PREFIX = "/hooks/"


class HookRoutes:
    """WSGI middleware: `app.wsgi_app = HookRoutes(app.wsgi_app, runtime)`."""

    def __init__(self, app: Callable, rt: Any, clock_ms: Callable[[], int] | None = None):
        self.app, self.rt = app, rt
        self.max_body = rt.settings.max_body_bytes
        self.clock_ms = clock_ms  # None = the real time; tests replaying a dated vector set it

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return self.app(environ, start_response)
        platform = self.rt.platforms.get(path[len(PREFIX) :])
        method = environ.get("REQUEST_METHOD", "GET")
        if platform is None:
            out = _plain(404, "not found")
        elif method not in ("GET", "POST"):
            out = _plain(405, "method not allowed")
            out.headers["Allow"] = "GET, POST"
        else:
            out = self._handle(environ, platform, method, path)
        headers = [("Content-Type", out.content_type), ("Content-Length", str(len(out.body)))]
        headers += list(out.headers.items())
        start_response(f"{out.status} {HTTPStatus(out.status).phrase}", headers)
        return [out.body]

    def _handle(self, environ: dict, platform: Any, method: str, path: str) -> HttpOut:
        body = _read_body(environ, self.max_body)
        if body is None:
            return _plain(413, "request body too large")
        req = HttpIn(
            method=method,
            path=path,
            query=_query(environ.get("QUERY_STRING", "")),
            headers=_headers(environ),
            body=body,
        )
        try:
            return handle_callback(
                platform, req, self.rt.store, self.rt.dispatcher.handle_once,
                now_ms=self.clock_ms() if self.clock_ms else None,
                enqueue=self.rt.services.enqueue, lease_s=self.rt.settings.push_lease_s,
            )  # fmt: skip
        except Exception as e:
            if isinstance(e, Unfinished) or self.rt.dispatcher.transient(e):
                # Redis is not reached or refuses writes (a full disk): answered at once, not
                # acknowledged, so the platform redelivers; nothing of it was committed.
                log.warning("%s callback not taken, Redis unavailable: %s", platform.name, e)
                return _plain(503, "service unavailable")
            # Not acknowledged: the platform retries, and nothing was claimed or half-done.
            log.exception("%s callback failed", platform.name)
            return _plain(500, "internal error")


def _plain(status: int, text: str) -> HttpOut:
    return HttpOut(status=status, body=text.encode(), content_type="text/plain; charset=utf-8")


def _read_body(environ: dict, limit: int) -> bytes | None:
    """The body, or None when it exceeds `limit` (413).

    A body is read only when there is one: a Content-Length, or an input the server marks as
    terminated (`wsgi.input_terminated`: gunicorn always, Werkzeug for a chunked body), where
    one byte past the limit tells. Anything else has no body (RFC 9112 §6.3), and reading
    Werkzeug's raw socket would block until the client gives up: WeCom's URL verification is
    such a GET."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    raw = environ.get("CONTENT_LENGTH") or ""
    if raw.isdigit():
        length = int(raw)
        if length > limit:
            return None
        return stream.read(length) if length else b""
    if not environ.get("wsgi.input_terminated"):
        return b""
    data = stream.read(limit + 1)
    return None if len(data) > limit else data


def _headers(environ: dict) -> dict[str, str]:
    out = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            out[name] = environ[key]
    return out


def _query(qs: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in parse_qsl(qs, keep_blank_values=True):
        out.setdefault(k, v)
    return out
