"""Safe link checking: whether a submitted URL answers, with its HTTP status and page title.

Only public addresses are contacted (private ones only when allow-listed), every request goes to
the address that was checked, redirects are followed here one by one, bodies are bounded, and
the whole check (redirects, TLS, headers and body) has one deadline.
"""

from __future__ import annotations

import codecs
import datetime as dt
import html
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar, get_cookie_header

from bot.texts import link_error

MAX_BYTES = 1024 * 1024
MAX_TITLE = 200
MAX_ADDRESSES = 3  # resolved addresses tried in turn when a connection fails
DEADLINE_S = 15.0  # one check, all of it: redirects, connections, TLS, headers, body
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "Mozilla/5.0 (compatible; Duban-LinkCheck/0.1)"

Resolver = Callable[..., list[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class LinkResult:
    """The outcome of one check.

    `ok` means the link answered 2xx after redirects. `error` is a short reason code ("timeout",
    "dns", "refused_private", "http_404", ...) and is empty when ok, except "too_large": the page
    answered but its body was cut at max_bytes (the title is taken from what was read).
    `status` is the last HTTP status received (None when nothing answered); `final_url` the
    last URL requested or refused.
    """

    url: str
    ok: bool
    status: int | None = None
    title: str = ""
    final_url: str = ""
    error: str = ""
    checked_at: dt.datetime | None = None

    @property
    def reason(self) -> str:
        return link_error(self.error)

    def to_dict(self) -> dict:
        return {
            "url": self.url,
            "ok": self.ok,
            "status": self.status,
            "title": self.title,
            "final_url": self.final_url,
            "error": self.error,
            "checked_at": self.checked_at.isoformat() if self.checked_at else "",
        }

    @classmethod
    def from_dict(cls, d: dict) -> LinkResult:
        at = d.get("checked_at") or ""
        return cls(
            url=d.get("url", ""),
            ok=bool(d.get("ok")),
            status=d.get("status"),
            title=d.get("title", ""),
            final_url=d.get("final_url", ""),
            error=d.get("error", ""),
            checked_at=dt.datetime.fromisoformat(at) if at else None,
        )


class _Refused(Exception):
    """A step of the check failed; `code` is the LinkResult error."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- address policy --------------------------------------------------------------------------


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(ip: IPAddress) -> bool:
    """False for private, loopback, link-local, multicast, reserved, unspecified and other
    non-global addresses, including IPv4 ones embedded in IPv6 (mapped, 6to4, NAT64)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and not is_public_address(inner):
            return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


@dataclass(frozen=True)
class _AllowList:
    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> _AllowList:
        hosts: set[str] = set()
        nets = []
        for raw in entries:
            entry = raw.strip().strip("[]").rstrip(".").lower()
            if not entry:
                continue
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(_ascii_host(entry) or entry)
        return cls(frozenset(hosts), tuple(nets))

    def allows_address(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        return any(
            c in net for c in candidates for net in self.networks if c.version == net.version
        )


def _ascii_host(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return ""


def _resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = resolver(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _Refused("dns") from None
    out: list[IPAddress] = []
    for info in infos:
        try:
            ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        except ValueError:
            continue
        if ip not in out:
            out.append(ip)
    if not out:
        raise _Refused("dns")
    return out


def _checked_addresses(host: str, port: int, allow: _AllowList, resolver: Resolver):
    """Resolve once and refuse the host if any of its addresses is not public nor allowed.

    Refusing on any bad address (not just the first) stops a name that lists a public and a
    private address from reaching the private one on a retry.
    """
    addresses = _resolve(host, port, resolver)
    if host not in allow.hosts:
        for ip in addresses:
            if not is_public_address(ip) and not allow.allows_address(ip):
                raise _Refused("refused_private")
    return addresses[:MAX_ADDRESSES]


# --- the deadline ----------------------------------------------------------------------------


class _Deadline:
    """One check's total time. Socket timeouts bound each read, so a server that sends one
    byte just inside every timeout (a header byte every 4 s, 100 short headers slowly) would
    hold a check for ever; when the deadline passes, a timer thread shuts down every
    connection the check opened, which ends whatever read, handshake or write waits on it."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return self.at - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        # A duplicate descriptor: still valid after TLS wraps (and detaches) the original, and
        # ours to close, so no other connection can ever be shut down by mistake.
        dup = sock.dup()
        with self._lock:
            self._socks.append(dup)
            if self.expired:
                _shutdown(dup)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                _shutdown(sock)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the other side


_CURRENT = threading.local()  # the deadline of the check running in this thread


class _Watched:
    """A urllib3 connection whose socket the running check's deadline watches."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        deadline = getattr(_CURRENT, "deadline", None)
        if deadline is not None:
            deadline.watch(sock)
        return sock


class _WatchedHTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


# --- one HTTP exchange -----------------------------------------------------------------------


class _PinnedAdapter(HTTPAdapter):
    """Sends a request whose URL names the checked IP, while TLS still uses the real host.

    Why: letting urllib3 resolve the name again would open a DNS-rebinding gap (the name could
    answer a public address to our check and a private one to the connection). So the URL
    handed to urllib3 carries the IP literal, the Host header carries the real name, and for
    https the pool is told the real name for SNI (`server_hostname`) and for certificate
    matching (`assert_hostname`), through the pool-key hook requests documents for subclasses.
    """

    def __init__(self, hostname: str) -> None:
        self._hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        # Connections that the check's deadline can shut down (_Deadline).
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = self._hostname
            pool_kwargs["assert_hostname"] = self._hostname
        return host_params, pool_kwargs


@dataclass(frozen=True)
class _Target:
    url: str  # as requests normalises it (IDNA host, quoted path)
    scheme: str
    host: str  # ASCII, lower case, no brackets
    port: int
    host_header: str
    path: str

    @classmethod
    def parse(cls, url: str) -> _Target:
        try:
            scheme = urlsplit(url).scheme.lower()
        except ValueError:
            raise _Refused("bad_url") from None
        if scheme not in ("http", "https"):
            raise _Refused("bad_scheme" if scheme else "bad_url")
        try:
            prepared = requests.Request("GET", url).prepare().url or ""
            parts = urlsplit(prepared)
            port = parts.port or (443 if scheme == "https" else 80)
        except (requests.RequestException, ValueError):
            raise _Refused("bad_url") from None
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise _Refused("bad_url")
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        return cls(prepared, scheme, host, port, parts.netloc.rpartition("@")[2], path)

    def pinned_url(self, ip: IPAddress) -> str:
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        return f"{self.scheme}://{literal}:{self.port}{self.path}"


def _send(
    target: _Target,
    ip: IPAddress,
    jar: RequestsCookieJar,
    timeout: tuple[float, float],
    verify: bool | str,
) -> requests.Response:
    headers = {
        "Host": target.host_header,
        "User-Agent": USER_AGENT,
        "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
        "Accept-Language": "zh-CN,zh;q=0.9",
        "Accept-Encoding": "gzip, deflate",
    }
    # Cookies are matched against the real URL, not the IP literal we connect to.
    real = requests.Request("GET", target.url).prepare()
    cookie = get_cookie_header(jar, real)
    if cookie:
        headers["Cookie"] = cookie
    request = requests.Request("GET", target.pinned_url(ip), headers=headers).prepare()
    adapter = _PinnedAdapter(target.host)
    try:
        response = adapter.send(request, stream=True, timeout=timeout, verify=verify, proxies={})
    except BaseException:
        adapter.close()
        raise
    extract_cookies_to_jar(jar, real, response.raw)
    return response


def _error_code(e: Exception) -> str:
    if isinstance(e, requests.exceptions.SSLError):
        return "ssl"
    if isinstance(e, requests.exceptions.Timeout):
        return "timeout"
    if isinstance(e, requests.exceptions.ConnectionError):
        return "connect"
    if isinstance(e, (requests.exceptions.InvalidURL, ValueError)):
        return "bad_url"
    return "error"


def _fetch(
    target: _Target,
    addresses: list[IPAddress],
    jar: RequestsCookieJar,
    timeout: tuple[float, float],
    verify: bool | str,
) -> requests.Response:
    """Send to each checked address in turn until one accepts the connection.

    Only connection failures move on to the next address; a server that accepted and then
    stalled is a timeout, so a slow site costs one read timeout, not one per address.
    """
    code = "connect"
    for ip in addresses:
        try:
            return _send(target, ip, jar, timeout, verify)
        except requests.exceptions.SSLError:
            raise _Refused("ssl") from None
        except requests.exceptions.ConnectionError as e:  # includes ConnectTimeout
            code = _error_code(e)
        except (requests.RequestException, ValueError) as e:
            raise _Refused(_error_code(e)) from None
    raise _Refused(code)


def _redirect_target(response: requests.Response) -> str | None:
    if response.status_code not in REDIRECT_STATUSES:
        return None
    location = response.headers.get("location")
    if not location:
        return None
    # http.client decodes headers as latin-1, but servers send UTF-8 far more often.
    try:
        return location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return location


# --- body, charset, title --------------------------------------------------------------------

_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.I)
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.I)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
_GB_NAMES = {"gb2312", "gb_2312", "gb_2312-80", "gbk", "x-gbk", "cp936", "euc-cn", "gb18030"}


def _codec(label: str | None) -> str | None:
    """A Python codec for a charset label; GB2312 and GBK pages are read as their superset
    GB18030, since pages labelled gb2312 routinely contain GBK-only characters."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _GB_NAMES:
        return "gb18030"
    if name in ("iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii"):
        return "cp1252"  # what browsers actually use for these labels
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_html(body: bytes, content_type: str = "") -> str:
    """Text of an HTML body: BOM, then the header charset, then <meta>, then UTF-8, then GB18030."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, "replace")
    header = _CHARSET_PARAM.search(content_type)
    meta = _META_CHARSET.search(body[:65536])
    for label in (header and header.group(1), meta and meta.group(1).decode("ascii")):
        codec = _codec(label)
        if codec:
            return body.decode(codec, "replace")
    try:
        # final=False: a body cut at max_bytes may end inside a character.
        return codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        return body.decode("gb18030", "replace")


def extract_title(text: str) -> str:
    """The first <title>, unescaped, whitespace collapsed, at most 200 characters."""
    m = _TITLE.search(text)
    if not m:
        return ""
    return " ".join(html.unescape(m.group(1)).split())[:MAX_TITLE]


def _is_html(content_type: str) -> bool:
    mime = content_type.partition(";")[0].strip().lower()
    return not mime or "html" in mime or mime.endswith("/xml")


def _read_body(response: requests.Response, max_bytes: int, budget: float) -> tuple[bytes, str]:
    """Up to max_bytes of decoded body and an error code ("" / too_large / timeout / read_error).

    read1 returns whatever has arrived, so the wall-clock budget also bounds a server that
    trickles bytes just fast enough to dodge the per-read socket timeout.
    """
    buf = bytearray()
    deadline = time.monotonic() + budget
    try:
        while True:
            chunk = response.raw.read1(min(65536, max_bytes + 1 - len(buf)), decode_content=True)
            if not chunk:
                return bytes(buf), ""
            buf += chunk
            if len(buf) > max_bytes:
                return bytes(buf[:max_bytes]), "too_large"
            if time.monotonic() > deadline:
                return bytes(buf), "timeout"
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return bytes(buf), "timeout"
    except (urllib3.exceptions.HTTPError, OSError):
        return bytes(buf), "read_error"


# --- the check -------------------------------------------------------------------------------


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_link(
    url: str,
    *,
    allow: tuple[str, ...] = (),
    connect_timeout: float = 3.0,
    read_timeout: float = 5.0,
    max_redirects: int = 5,
    max_bytes: int = MAX_BYTES,
    resolver: Resolver = socket.getaddrinfo,
    verify: bool | str = True,
    clock: Callable[[], dt.datetime] = _utcnow,
    deadline: float = DEADLINE_S,
) -> LinkResult:
    """Check one http(s) link; never raises for network trouble, the result says what happened.

    `allow` lists host names (exact match) and IPs/CIDRs that may be contacted although not
    public. `resolver` has the signature of socket.getaddrinfo. `read_timeout` bounds each
    socket read and, separately, the whole body download; `deadline` (seconds) the whole check,
    headers and redirects included: past it the result is "timeout". `verify` is requests'
    verify: True, or the path of a CA bundle (intranet sites with their own CA). Proxies from
    the environment are not used: a proxy resolves names itself, which would void the address
    check.
    """
    watch = _Deadline(deadline)
    _CURRENT.deadline = watch
    try:
        result = _check(url, allow, connect_timeout, read_timeout, max_redirects, max_bytes,
                        resolver, verify, clock, watch)  # fmt: skip
    finally:
        _CURRENT.deadline = None
        watch.close()
    if watch.expired and result.error != "timeout":
        # Whatever the cut connection looked like (reset, EOF, a TLS error), it was the deadline.
        return LinkResult(result.url, False, result.status, result.title, result.final_url,
                          "timeout", result.checked_at)  # fmt: skip
    return result


def _check(
    url: str,
    allow: tuple[str, ...],
    connect_timeout: float,
    read_timeout: float,
    max_redirects: int,
    max_bytes: int,
    resolver: Resolver,
    verify: bool | str,
    clock: Callable[[], dt.datetime],
    watch: _Deadline,
) -> LinkResult:
    checked_at = clock()
    policy = _AllowList.parse(allow)
    jar = RequestsCookieJar()
    timeout = (connect_timeout, read_timeout)
    current = url.strip()
    status: int | None = None
    redirects = 0

    def result(ok: bool, error: str, title: str = "") -> LinkResult:
        return LinkResult(url, ok, status, title, current, error, checked_at)

    while True:
        try:
            target = _Target.parse(current)
            addresses = _checked_addresses(target.host, target.port, policy, resolver)
            if watch.left() <= 0:  # a slow resolver cannot be interrupted; stop after it
                return result(False, "timeout")
            response = _fetch(target, addresses, jar, timeout, verify)
        except _Refused as e:
            return result(False, e.code)
        try:
            status = response.status_code
            location = _redirect_target(response)
            if location is not None:
                if redirects >= max_redirects:
                    return result(False, "too_many_redirects")
                redirects += 1
                current = urljoin(target.url, location)
                continue
            ok = 200 <= status < 300
            error = "" if ok else f"http_{status}"
            content_type = response.headers.get("content-type", "")
            if not _is_html(content_type):
                return result(ok, error)
            body, read_error = _read_body(response, max_bytes, min(read_timeout, watch.left()))
            title = extract_title(decode_html(body, content_type))
            if not ok or read_error == "too_large":
                return result(ok, error or read_error, title)
            return result(not read_error, read_error, title)
        finally:
            response.close()
            response.connection.close()  # the per-request _PinnedAdapter and its pool
