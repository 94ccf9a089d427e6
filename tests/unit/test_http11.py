"""The lean HTTP/1.1 client of the answering path (bot/http11.py), against servers that answer
as real ones may: Content-Length or chunked bodies, 100 Continue first, Connection: close, a
body read to the close, a kept-alive connection closed while idle, garbage, silence, TLS with
a certificate the client trusts or does not. Through KeepAliveSession.post_json, each failure
is the requests exception the callers already tell apart (bot.delivery.may_have_arrived)."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading

import pytest
import requests

from bot import http11
from bot.delivery import KeepAliveSession, may_have_arrived

JSON = {"Content-Type": "application/json"}


class Scripted:
    """A TCP server that answers each request with the next scripted bytes (a callable gets the
    connection and the request), keeping each connection open until told otherwise."""

    def __init__(self, answers, tls: ssl.SSLContext | None = None):
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.accepted = 0
        self.tls = tls
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn):
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buf = rest[length:]
                with self._lock:
                    answer = self.answers.pop(0) if self.answers else b""
                if callable(answer):
                    if answer(conn) == "close":
                        conn.close()
                        return
                else:
                    conn.sendall(answer)
        except (OSError, ssl.SSLError):
            return

    def close(self):
        self.sock.close()


def ok(body: bytes = b'{"errcode":0}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def pool(port: int, ctx=None, scheme="http") -> http11.Pool:
    return http11.Pool(scheme, "127.0.0.1", port, 4, ctx)


def test_content_length_and_chunked_bodies_on_one_kept_alive_connection():
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"err\r\n8\r\ncode":0}\r\n0\r\nX-Trailer: 1\r\n\r\n'
    )
    srv = Scripted([ok(), chunked, b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b'{"a":1}')])
    p = pool(srv.port)
    assert p.post("/robot/send?access_token=t", b'{"x":"\xe5\xa5\xbd"}', JSON, (1, 2)) == (
        200,
        b'{"errcode":0}',
    )
    assert p.post("/b", b"{}", JSON, (1, 2)) == (200, b'{"errcode":0}')
    assert p.post("/c", b"{}", JSON, (1, 2)) == (200, b'{"a":1}')
    assert srv.accepted == 1 and p.opened == 1  # one connection for all three
    first = srv.requests[0]
    assert first.startswith(b"POST /robot/send?access_token=t HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{srv.port}\r\n".encode() in first
    assert b"Content-Length: 11\r\n" in first and first.endswith(b'{"x":"\xe5\xa5\xbd"}')
    srv.close()


def test_connection_close_and_a_body_read_to_the_close_open_a_new_connection_next_time():
    def to_close(conn):
        conn.sendall(b'HTTP/1.1 200 OK\r\n\r\n{"errcode":0}')
        return "close"

    srv = Scripted([ok(extra=b"Connection: close\r\n"), to_close, ok(), ok()])
    p = pool(srv.port)
    assert p.post("/a", b"{}", JSON, (1, 2))[0] == 200
    assert p.post("/b", b"{}", JSON, (1, 2)) == (200, b'{"errcode":0}')
    assert p.post("/c", b"{}", JSON, (1, 2))[0] == 200
    assert p.post("/d", b"{}", JSON, (1, 2))[0] == 200
    assert srv.accepted == 3  # after each close a new one; then kept alive
    srv.close()


def test_a_connection_the_server_closed_while_idle_is_not_used_again():
    """The keep-alive race: a server closes an idle connection; the next POST must not be
    written on it (it could be lost unanswered), but on a new one."""

    def answer_then_close_later(conn):
        conn.sendall(ok())
        return "close"

    srv = Scripted([answer_then_close_later, ok()])
    p = pool(srv.port)
    assert p.post("/a", b"{}", JSON, (1, 2))[0] == 200
    import time

    time.sleep(0.2)  # the server's close reaches us while the connection is idle in the pool
    assert p.post("/b", b"{}", JSON, (1, 2))[0] == 200
    assert srv.accepted == 2 and len(srv.requests) == 2
    srv.close()


def test_failures_are_the_requests_exceptions_callers_tell_apart():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    ours = KeepAliveSession()
    with pytest.raises(requests.ConnectionError) as refused:
        ours.post_json(f"http://127.0.0.1:{port}/x", b"{}", JSON, (1, 1))
    assert not may_have_arrived(refused.value)  # nothing was sent

    silent = Scripted([lambda conn: None])  # reads the request, never answers
    with pytest.raises(requests.ReadTimeout) as slow:
        ours.post_json(f"http://127.0.0.1:{silent.port}/x", b"{}", JSON, (1, 0.3))
    assert may_have_arrived(slow.value)

    garbage = Scripted([b"SMTP ready\r\n\r\n"])
    with pytest.raises(requests.ConnectionError) as bad:
        ours.post_json(f"http://127.0.0.1:{garbage.port}/x", b"{}", JSON, (1, 1))
    assert may_have_arrived(bad.value)  # written, then an answer that is no answer

    cut = Scripted([lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{")
                    or "close"])  # fmt: skip
    with pytest.raises(requests.ConnectionError) as broken:
        ours.post_json(f"http://127.0.0.1:{cut.port}/x", b"{}", JSON, (1, 1))
    assert may_have_arrived(broken.value)

    with pytest.raises(ValueError):  # a header value cannot smuggle a second request
        pool(silent.port).post("/x", b"{}", {"X-A": "1\r\nX-B: 2"}, (1, 1))
    for s in (silent, garbage, cut):
        s.close()


def test_a_json_answer_is_parsed_and_a_non_json_one_is_none():
    srv = Scripted([ok(b'{"errcode":0,"errmsg":"ok"}'), ok(b"<html>busy</html>", b"")])
    ours = KeepAliveSession()
    url = f"http://127.0.0.1:{srv.port}/robot/sendBySession?session=s"
    assert ours.post_json(url, b"{}", JSON, (1, 2)) == (200, {"errcode": 0, "errmsg": "ok"})
    assert ours.post_json(url, b"{}", JSON, (1, 2)) == (200, None)
    assert ours.connections_opened() == 1
    srv.close()


def _certificate(tmp_path, name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_checks_the_certificate_and_the_host_name(tmp_path, monkeypatch):
    cert, key = _certificate(tmp_path, "localhost")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    srv = Scripted([ok(), ok(), ok()], tls=server_ctx)

    # trusted bundle, matching name: answered, kept alive
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    ours = KeepAliveSession()
    url = f"https://localhost:{srv.port}/robot/send?access_token=t"
    assert ours.post_json(url, b"{}", JSON, (1, 2)) == (200, {"errcode": 0})
    assert ours.post_json(url, b"{}", JSON, (1, 2)) == (200, {"errcode": 0})
    assert ours.connections_opened() == 1

    # the certificate is not for this name: refused before anything is sent
    with pytest.raises(requests.exceptions.SSLError):
        ours.post_json(f"https://127.0.0.1:{srv.port}/x", b"{}", JSON, (1, 2))

    # a bundle that does not hold the certificate: refused too
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.utils.DEFAULT_CA_BUNDLE_PATH)
    with pytest.raises(requests.exceptions.SSLError):
        KeepAliveSession().post_json(url, b"{}", JSON, (1, 2))
    assert len(srv.requests) == 2
    srv.close()


def test_the_answering_path_posts_through_the_lean_client(monkeypatch):
    """A plain platform URL goes through bot/http11.py, not through urllib3's pool."""
    srv = Scripted([ok()])
    ours = KeepAliveSession()
    monkeypatch.setattr(ours, "_pool", lambda ca: 1 / 0)  # urllib3's pool is not used
    status, data = ours.post_json(f"http://127.0.0.1:{srv.port}/a?b=c", b"{}", JSON, (1, 2))
    assert (status, data) == (200, {"errcode": 0})
    assert json.loads(srv.requests[0].split(b"\r\n\r\n", 1)[1]) == {}
    srv.close()


@pytest.mark.parametrize(
    "tail, lean",
    [
        ("/robot/send?session=s-1&x=%20", True),  # plain: sent as written
        ("/robot/send?session=s-2", True),
        ("/robot/send", True),
        ("?only=query", True),
        ("/robot/send?session=会话", False),  # urllib3 percent-encodes it: its pool sends it
        ("/ro bot/send?session=s-3", False),
        ("/robot/send#frag?x=1", False),
    ],
)
def test_only_a_url_urllib3_would_send_as_written_takes_the_lean_client(monkeypatch, tail, lean):
    """The reply URLs of one host differ in their query; its path and host are parsed once per
    process, the query checked each time, and anything urllib3 would rewrite goes through it."""
    srv = Scripted([ok()])
    ours = KeepAliveSession()
    used = []
    real = ours._pool
    monkeypatch.setattr(ours, "_pool", lambda ca: used.append(ca) or real(ca))
    status, _ = ours.post_json(f"http://127.0.0.1:{srv.port}{tail}", b"{}", JSON, (1, 2))
    assert status == 200
    assert (not used) == lean
    line = srv.requests[0].split(b"\r\n", 1)[0].decode()
    if lean:
        want = tail.split("#")[0] if tail.startswith("/") else "/" + tail
        assert line == f"POST {want} HTTP/1.1"
    srv.close()
