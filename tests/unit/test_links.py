import datetime as dt
import gzip
import html
import ipaddress
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.links import LinkResult, check_link, decode_html, extract_title, is_public_address

LOOPBACK = ("127.0.0.1",)
FAST = {"connect_timeout": 1.0, "read_timeout": 1.0}


# --- a guard: nothing in this file may connect outside 127.0.0.0/8 ---------------------------


@pytest.fixture(autouse=True)
def connects(monkeypatch):
    """Every outgoing connect() in the test, refused unless it targets 127.0.0.0/8."""
    seen: list = []
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        seen.append(address)
        if not str(host).startswith("127."):
            raise AssertionError(f"a test tried to reach {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return seen


def fake_dns(table: dict[str, list[str]]):
    """The test's stand-in for DNS: a getaddrinfo-shaped function over a fixed table."""
    calls: list[str] = []

    def resolve(host, port, *args, **kwargs):
        calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for a in table[host]:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            sockaddr = (a, port, 0, 0) if fam == socket.AF_INET6 else (a, port)
            out.append((fam, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    resolve.calls = calls
    return resolve


# --- the local test site ----------------------------------------------------------------------


def _page(title_html: str, charset: str = "utf-8", head: str = "") -> bytes:
    doc = f"<!DOCTYPE html><html><head>{head}<title>{title_html}</title></head><body>正文</body></html>"
    return doc.encode(charset)


class Site(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    port = 0
    hosts: dict[str, str] = {}

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", ctype="text/html; charset=utf-8", headers=()):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location, status=302, headers=()):
        self.send(status, b"", None, (("Location", location), *headers))

    def do_GET(self):
        Site.hosts[self.path] = self.headers.get("Host", "")
        path = self.path
        if path == "/utf8":
            self.send(200, _page("\n  金凤区司法局 &amp;\n\t法治政府建设  "))
        elif path == "/gbk-meta":
            self.send(200, _page("政府信息公开", "gbk", '<meta charset="gbk">'), "text/html")
        elif path == "/gb2312-header":
            self.send(200, _page("法治政府建设示范创建", "gb2312"), "text/html; charset=gb2312")
        elif path == "/gb2312-http-equiv":
            head = '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
            self.send(200, _page("依法治区办公室", "gb2312", head), "text/html")
        elif path == "/gzip":
            body = gzip.compress(_page("压缩页面"))
            self.send(200, body, headers=(("Content-Encoding", "gzip"),))
        elif path == "/missing":
            self.send(404, _page("404 页面不存在"))
        elif path == "/error":
            self.send(500, b"oops", "text/plain")
        elif path == "/slow":
            time.sleep(1.5)
            self.send(200, _page("迟到"))
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(_page("慢慢来")[:-7])
            for _ in range(30):
                time.sleep(0.1)
                self.wfile.write(b" ")
                self.wfile.flush()
        elif path == "/slow-header":
            # one header byte at a time, each just inside the client's per-read timeout
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(50):
                time.sleep(0.2)
                self.wfile.write(b"x")
        elif path == "/many-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for i in range(99):
                time.sleep(0.2)
                self.wfile.write(f"X-Pad-{i}: 1\r\n".encode())
            self.wfile.write(b"Content-Length: 0\r\n\r\n")
        elif path == "/loop":
            self.redirect("/loop")
        elif path.startswith("/chain/"):
            n = int(path.rsplit("/", 1)[1])
            if n:
                self.redirect(f"/chain/{n - 1}", 301 if n % 2 else 307)
            else:
                self.send(200, _page("终点"))
        elif path == "/relative":
            self.redirect("chain/0")
        elif path == "/big":
            head = _page("很大的页面").replace(b"</body>", b"")
            body = head + b"x" * (2 * 1024 * 1024)
            self.send(200, body)
        elif path == "/host":
            self.send(200, _page(html.escape(self.headers.get("Host", ""))))
        elif path == "/to-loopback":
            self.redirect(f"http://127.0.0.1:{Site.port}/utf8")
        elif path == "/to-private":
            self.redirect("http://10.1.2.3/admin")
        elif path == "/to-metadata-name":
            self.redirect("http://metadata.test/latest/meta-data/")
        elif path == "/to-ftp":
            self.redirect("ftp://127.0.0.1/file")
        elif path == "/cookie":
            if "visited=1" in self.headers.get("Cookie", ""):
                self.send(200, _page("带 Cookie 回来了"))
            else:
                self.redirect("/cookie", headers=(("Set-Cookie", "visited=1; Path=/"),))
        elif path == "/pdf":
            self.send(200, b"%PDF-1.4\n" + b"0" * 4096, "application/pdf")
        else:
            self.send(404, b"", "text/plain")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that stop reading early (too_large, timeouts) break the pipe on purpose


@pytest.fixture(scope="module")
def site():
    server = QuietServer(("127.0.0.1", 0), Site)
    Site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{Site.port}"
    server.shutdown()
    server.server_close()


# --- reachable pages and titles ---------------------------------------------------------------


def test_utf8_title_is_unescaped_and_collapsed(site):
    when = dt.datetime(2020, 8, 13, 1, 0, tzinfo=dt.UTC)
    r = check_link(f"{site}/utf8", allow=LOOPBACK, clock=lambda: when, **FAST)
    assert r == LinkResult(
        url=f"{site}/utf8",
        ok=True,
        status=200,
        title="金凤区司法局 & 法治政府建设",
        final_url=f"{site}/utf8",
        error="",
        checked_at=when,
    )
    assert r.reason == ""
    assert LinkResult.from_dict(r.to_dict()) == r


@pytest.mark.parametrize(
    "path,title",
    [
        ("/gbk-meta", "政府信息公开"),
        ("/gb2312-header", "法治政府建设示范创建"),
        ("/gb2312-http-equiv", "依法治区办公室"),
        ("/gzip", "压缩页面"),
    ],
)
def test_chinese_charsets_and_compression(site, path, title):
    r = check_link(site + path, allow=LOOPBACK, **FAST)
    assert (r.ok, r.status, r.title, r.error) == (True, 200, title, "")


def test_non_html_is_not_read(site):
    r = check_link(f"{site}/pdf", allow=LOOPBACK, **FAST)
    assert (r.ok, r.status, r.title, r.error) == (True, 200, "", "")


def test_404_keeps_the_error_page_title(site):
    r = check_link(f"{site}/missing", allow=LOOPBACK, **FAST)
    assert (r.ok, r.status, r.error, r.title) == (False, 404, "http_404", "404 页面不存在")
    assert r.reason == "网页不存在（HTTP 404）"


def test_500(site):
    r = check_link(f"{site}/error", allow=LOOPBACK, **FAST)
    assert (r.ok, r.status, r.error) == (False, 500, "http_500")


def test_timeout_waiting_for_the_response(site):
    r = check_link(f"{site}/slow", allow=LOOPBACK, connect_timeout=1.0, read_timeout=0.3)
    assert (r.ok, r.status, r.error) == (False, None, "timeout")
    assert r.reason == "访问超时"


def test_a_trickling_body_is_bounded_by_wall_clock(site):
    started = time.monotonic()
    r = check_link(f"{site}/trickle", allow=LOOPBACK, connect_timeout=1.0, read_timeout=0.3)
    assert (r.ok, r.status, r.error) == (False, 200, "timeout")
    assert r.title == "慢慢来"
    assert time.monotonic() - started < 2.5  # the server would go on for 3 s


@pytest.mark.parametrize("path", ["/slow-header", "/many-headers"])
def test_headers_sent_slowly_are_cut_at_the_deadline(site, path):
    """Each byte comes well inside the 0.5 s read timeout, so only the check's total deadline
    ends it; the server would go on for 10 to 20 s."""
    started = time.monotonic()
    r = check_link(f"{site}{path}", allow=LOOPBACK, connect_timeout=1.0, read_timeout=0.5,
                   deadline=1.5)  # fmt: skip
    assert (r.ok, r.error) == (False, "timeout")
    assert time.monotonic() - started < 2.5


def test_a_tls_handshake_trickled_byte_by_byte_is_cut_at_the_deadline():
    """A server that answers the TLS hello with a record header announcing 16 KB, then one
    byte every 0.2 s: the handshake itself is held open, and the deadline still ends it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"\x16\x03\x03\x40\x00")
            while not stop.wait(0.2):
                try:
                    conn.sendall(b"\x00")
                except OSError:
                    return

    threading.Thread(target=serve, daemon=True).start()
    port = listener.getsockname()[1]
    started = time.monotonic()
    try:
        r = check_link(f"https://127.0.0.1:{port}/", allow=LOOPBACK, connect_timeout=1.0,
                       read_timeout=0.5, deadline=1.5)  # fmt: skip
    finally:
        stop.set()
        listener.close()
    assert (r.ok, r.error) == (False, "timeout")
    assert time.monotonic() - started < 2.5


def test_oversized_page_is_cut_but_keeps_its_title(site):
    r = check_link(f"{site}/big", allow=LOOPBACK, **FAST)
    assert (r.ok, r.status, r.error, r.title) == (True, 200, "too_large", "很大的页面")
    small = check_link(f"{site}/utf8", allow=LOOPBACK, max_bytes=40, **FAST)
    assert (small.error, small.title) == ("too_large", "")


def test_connection_refused(connects):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = check_link(f"http://127.0.0.1:{port}/", allow=LOOPBACK, **FAST)
    assert (r.ok, r.status, r.error) == (False, None, "connect")


# --- redirects --------------------------------------------------------------------------------


def test_five_redirects_are_followed(site):
    r = check_link(f"{site}/chain/5", allow=LOOPBACK, **FAST)
    assert (r.ok, r.status, r.title, r.final_url) == (True, 200, "终点", f"{site}/chain/0")


def test_six_redirects_are_too_many(site):
    r = check_link(f"{site}/chain/6", allow=LOOPBACK, **FAST)
    assert (r.ok, r.status, r.error) == (False, 301, "too_many_redirects")
    assert r.final_url == f"{site}/chain/1"
    assert check_link(f"{site}/chain/6", allow=LOOPBACK, max_redirects=6, **FAST).ok


def test_redirect_loop(site):
    r = check_link(f"{site}/loop", allow=LOOPBACK, **FAST)
    assert (r.ok, r.status, r.error) == (False, 302, "too_many_redirects")


def test_relative_redirect_and_cookies_across_redirects(site):
    assert check_link(f"{site}/relative", allow=LOOPBACK, **FAST).final_url == f"{site}/chain/0"
    r = check_link(f"{site}/cookie", allow=LOOPBACK, **FAST)
    assert (r.ok, r.title) == (True, "带 Cookie 回来了")


def test_redirect_to_another_scheme_is_not_followed(site):
    r = check_link(f"{site}/to-ftp", allow=LOOPBACK, **FAST)
    assert (r.ok, r.status, r.error, r.final_url) == (
        False,
        302,
        "bad_scheme",
        "ftp://127.0.0.1/file",
    )


# --- address policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/admin",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.1.2.3]/",
        "https://0.0.0.0/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        "http://192.168.1.1/",
    ],
)
def test_private_addresses_are_refused_without_connecting(url, connects):
    r = check_link(url, **FAST)
    assert (r.ok, r.status, r.error) == (False, None, "refused_private")
    assert r.reason == "网址指向内网或保留地址，不予访问"
    assert connects == []


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "::ffff:127.0.0.1"]
)
def test_host_names_resolving_to_private_addresses_are_refused(address, connects):
    dns = fake_dns({"www.jinfeng.test": [address]})
    r = check_link("http://www.jinfeng.test/", resolver=dns, **FAST)
    assert (r.ok, r.error) == (False, "refused_private")
    assert dns.calls == ["www.jinfeng.test"]
    assert connects == []


def test_one_private_address_among_public_ones_refuses_the_host(connects):
    dns = fake_dns({"mixed.test": ["203.0.113.10", "10.0.0.5"]})
    r = check_link("http://mixed.test/", resolver=dns, **FAST)
    assert r.error == "refused_private"
    assert connects == []


def test_dns_failure():
    r = check_link("http://nowhere.test/", resolver=fake_dns({}), **FAST)
    assert (r.ok, r.status, r.error) == (False, None, "dns")


def test_allowed_host_connects_to_the_checked_address_with_its_own_host_header(site, connects):
    dns = fake_dns({"intranet.jinfeng.test": ["127.0.0.1"]})
    url = f"http://intranet.jinfeng.test:{Site.port}/host"
    r = check_link(url, allow=("intranet.jinfeng.test",), resolver=dns, **FAST)
    assert (r.ok, r.title) == (True, f"intranet.jinfeng.test:{Site.port}")
    assert dns.calls == ["intranet.jinfeng.test"]  # resolved once, by us, then pinned
    assert [a[0] for a in connects] == ["127.0.0.1"]


def test_next_address_is_tried_when_the_first_refuses(site, connects):
    # the test site listens on 127.0.0.1 only, so 127.0.0.2 refuses the connection
    dns = fake_dns({"twin.test": ["127.0.0.2", "127.0.0.1"]})
    r = check_link(
        f"http://twin.test:{Site.port}/utf8", allow=("127.0.0.0/8",), resolver=dns, **FAST
    )
    assert r.ok
    assert [a[0] for a in connects] == ["127.0.0.2", "127.0.0.1"]


def test_proxies_from_the_environment_are_ignored(site, monkeypatch, connects):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://10.9.9.9:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert check_link(f"{site}/utf8", allow=LOOPBACK, **FAST).ok
    assert {a[0] for a in connects} == {"127.0.0.1"}


def test_allowed_cidr(site):
    r = check_link(f"{site}/utf8", allow=("127.0.0.0/8",), **FAST)
    assert r.ok
    refused = check_link(f"{site}/utf8", allow=("10.0.0.0/8",), **FAST)
    assert refused.error == "refused_private"


def test_redirect_from_allowed_host_to_private_address_is_refused(site, connects):
    dns = fake_dns({"portal.test": ["127.0.0.1"]})
    url = f"http://portal.test:{Site.port}/to-loopback"
    r = check_link(url, allow=("portal.test",), resolver=dns, **FAST)
    assert (r.ok, r.status, r.error) == (False, 302, "refused_private")
    assert r.final_url == f"http://127.0.0.1:{Site.port}/utf8"
    assert len(connects) == 1  # the first hop only


def test_redirect_from_allowed_address_to_private_ones_is_refused(site, connects):
    dns = fake_dns({"metadata.test": ["169.254.169.254"]})
    for path, final in [
        ("/to-private", "http://10.1.2.3/admin"),
        ("/to-metadata-name", "http://metadata.test/latest/meta-data/"),
    ]:
        connects.clear()
        r = check_link(site + path, allow=LOOPBACK, resolver=dns, **FAST)
        assert (r.ok, r.status, r.error, r.final_url) == (False, 302, "refused_private", final)
        assert len(connects) == 1


@pytest.mark.parametrize(
    "url,error",
    [
        ("javascript:alert(1)", "bad_scheme"),
        ("ftp://example.test/a.pdf", "bad_scheme"),
        ("file:///etc/passwd", "bad_scheme"),
        ("www.gov.cn", "bad_url"),
        ("http://", "bad_url"),
        ("http://[::1/", "bad_url"),
        ("http://127.0.0.1:99999/", "bad_url"),
    ],
)
def test_bad_urls(url, error, connects):
    r = check_link(url, allow=LOOPBACK, resolver=fake_dns({}), **FAST)
    assert (r.ok, r.error) == (False, error)
    assert connects == []


def test_is_public_address():
    for a in ["8.8.8.8", "114.114.114.114", "2400:3200::1"]:
        assert is_public_address(ipaddress.ip_address(a)), a
    for a in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "240.0.0.1",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:192.168.0.1",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "64:ff9b::a01:203",  # NAT64 around 10.1.2.3
    ]:
        assert not is_public_address(ipaddress.ip_address(a)), a


# --- charset and title helpers ----------------------------------------------------------------


def test_header_and_meta_charsets_beat_utf8_sniffing():
    # "鏂囦欢" in GBK is byte for byte "文件" in UTF-8: only the declared charset can tell.
    body = "<title>鏂囦欢</title>".encode("gbk")
    assert body == "<title>文件</title>".encode()
    assert extract_title(decode_html(body, "text/html; charset=GBK")) == "鏂囦欢"
    assert extract_title(decode_html(body, "text/html")) == "文件"
    meta = b"<meta charset='gb2312'>" + body
    assert extract_title(decode_html(meta, "text/html")) == "鏂囦欢"
    assert extract_title(decode_html(meta, 'text/html; charset="utf-8"')) == "文件"
    assert extract_title(decode_html(_page("法治", "gbk"))) == "法治"  # not UTF-8: GB18030


def test_title_is_limited_to_200_characters():
    assert extract_title("<TITLE lang=zh>" + "法" * 500 + "</TITLE>") == "法" * 200
    assert extract_title("<html><body>no title</body></html>") == ""


# --- https: the pinned connection still verifies the real host name ---------------------------


def _tls_files(tmp_path, hostname):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Duban test CA"))
        .issuer_name(name("Duban test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp_path / "ca.pem", tmp_path / "leaf.pem", tmp_path / "leaf.key"


@pytest.fixture
def tls_site(tmp_path):
    ca, cert, key = _tls_files(tmp_path, "www.jinfeng.test")
    sni: list = []
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.sni_callback = lambda sock, name, _ctx: sni.append(name)
    server = QuietServer(("127.0.0.1", 0), Site)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], str(ca), sni
    server.shutdown()
    server.server_close()


def test_https_pins_the_address_but_keeps_sni_and_certificate_name(tls_site):
    port, ca, sni = tls_site
    dns = fake_dns({"www.jinfeng.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    allow = ("www.jinfeng.test", "other.test")
    r = check_link(
        f"https://www.jinfeng.test:{port}/host", allow=allow, resolver=dns, verify=ca, **FAST
    )
    assert (r.ok, r.title) == (True, f"www.jinfeng.test:{port}")
    assert sni == ["www.jinfeng.test"]
    wrong = check_link(
        f"https://other.test:{port}/host", allow=allow, resolver=dns, verify=ca, **FAST
    )
    assert (wrong.ok, wrong.error) == (False, "ssl")
    untrusted = check_link(
        f"https://www.jinfeng.test:{port}/host", allow=allow, resolver=dns, **FAST
    )
    assert (untrusted.ok, untrusted.error) == (False, "ssl")
