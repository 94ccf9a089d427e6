"""deploy/nginx/duban.conf under Debian's nginx: `nginx -t` accepts it inside a minimal
nginx.conf with self-signed test certificates, and, running in front of the app served by
gunicorn, it speaks TLS, redirects plain HTTP, refuses bodies over DUBAN_MAX_BODY_BYTES
itself, keeps slow clients away from gunicorn, answers a stuck callback before WeCom's 5 s
deadline and lets browsers cache the static files."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import re
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from gunicorn.app.base import Application
from requests.adapters import HTTPAdapter

from bot.config import Settings
from bot.embedded import free_port
from bot.store import RedisStore
from bot.web.admin import LOGIN_MAX_FAILURES
from tests.deploy.helpers import (
    DEPLOY,
    app_env,
    env_example,
    exec_start,
    start_gunicorn,
    stop,
    tool,
    wait_healthy,
)

SITE = DEPLOY / "nginx" / "duban.conf"
HOST = "duban.example.gov.cn"
ADMIN_PASSWORD = "nginx-test-password"


# --- the site as nginx reads it ------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def value(self, name: str) -> str:
        found = self.find(name)
        assert len(found) == 1, (name, found)
        return " ".join(found[0].args)


def parse(text: str) -> Directive:
    """nginx's configuration syntax: words, quoted strings, `;` and `{ }`, # comments."""
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};#"\']+|#[^\n]*', text)
    root = Directive("", [], [])
    stack, words = [root], []
    for tok in tokens:
        if tok.startswith("#"):
            continue
        if tok == ";":
            stack[-1].block.append(Directive(words[0], words[1:]))
            words = []
        elif tok == "{":
            child = Directive(words[0], words[1:], [])
            stack[-1].block.append(child)
            stack.append(child)
            words = []
        elif tok == "}":
            stack.pop()
        else:
            words.append(tok.strip("\"'"))
    assert len(stack) == 1 and not words, "unbalanced braces or a missing semicolon"
    return root


def site() -> Directive:
    return parse(SITE.read_text(encoding="utf-8"))


def https_server() -> Directive:
    (server,) = [s for s in site().find("server") if "ssl" in s.value("listen")]
    return server


def location(path: str) -> Directive:
    (loc,) = [loc for loc in https_server().find("location") if loc.args[-1] == path]
    return loc


def seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m)?", value).groups()
    return int(number) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[unit]


def size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", value).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]


def test_body_limit_is_duban_max_body_bytes():
    limit = size(https_server().value("client_max_body_size"))
    assert limit == int(env_example()["DUBAN_MAX_BODY_BYTES"]) == Settings().max_body_bytes
    assert size(https_server().value("client_body_buffer_size")) >= limit  # kept in memory
    assert https_server().value("proxy_request_buffering") == "on"


def test_callback_timeouts_fit_the_platforms_deadlines():
    """WeCom waits 5 s, then sends again: nginx answers before that, whatever the app does."""
    hooks = location("/hooks/")
    waited = seconds(hooks.value("proxy_connect_timeout")) + seconds(
        hooks.value("proxy_read_timeout")
    )
    assert waited < 5
    assert seconds(hooks.value("proxy_read_timeout")) >= 3  # DingTalk's and Feishu's 3 s


def test_idle_upstream_connections_close_on_nginx_side_first():
    (upstream,) = site().find("upstream")
    gunicorn = Application.get_config_from_filename(None, str(DEPLOY / "gunicorn.conf.py"))
    assert seconds(upstream.value("keepalive_timeout")) < gunicorn["keepalive"]


def test_upstream_is_where_the_web_unit_and_the_web_container_listen():
    (upstream,) = site().find("upstream")
    address = upstream.value("server")
    argv = exec_start("duban-web.service")
    assert argv[argv.index("--bind") + 1] == address
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert compose["services"]["web"]["ports"] == [f"{address}:{address.rsplit(':', 1)[1]}"]


def test_server_name_is_the_host_of_duban_public_url():
    host = re.match(r"https?://([^/:]+)", env_example()["DUBAN_PUBLIC_URL"]).group(1)
    assert {s.value("server_name") for s in site().find("server")} == {host}


# --- nginx -t and a running nginx ------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for the site's name and 127.0.0.1, and its key."""
    d = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (d / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return d / "fullchain.pem", d / "privkey.pem"


def substitute(text: str, old: str, new: str) -> str:
    """Replace one thing the test must move (ports, paths); the site must still contain it."""
    assert text.count(old) == 1, f"{old!r} is not in the site once"
    return text.replace(old, new)


def render(d: Path, certs: tuple[Path, Path], https: int, http: int, upstream: int) -> Path:
    """The site, with what belongs to a host moved into `d`, inside a minimal nginx.conf."""
    text = SITE.read_text(encoding="utf-8")
    text = substitute(text, "/etc/nginx/tls/duban/fullchain.pem", str(certs[0]))
    text = substitute(text, "/etc/nginx/tls/duban/privkey.pem", str(certs[1]))
    text = substitute(text, "listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;")
    text = substitute(text, "listen 80;", f"listen 127.0.0.1:{http};")
    text = substitute(text, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};")
    text = substitute(text, "root /var/www/letsencrypt;", f"root {d / 'acme'};")
    (d / "duban.conf").write_text(text, encoding="utf-8")
    # As root the workers need a user; the one running the test can read the temp files.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    temp = "\n".join(f"  {kind}_temp_path {d / kind};" for kind in ("client_body", "proxy",
                                                                    "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    (d / "nginx.conf").write_text(
        f"{user}\nworker_processes 1;\npid {d / 'nginx.pid'};\nerror_log {d / 'error.log'};\n"
        f"events {{ worker_connections 256; }}\n"
        f"http {{\n  {mime}\n  access_log {d / 'access.log'};\n{temp}\n"
        f"  include {d / 'duban.conf'};\n}}\n",
        encoding="utf-8",
    )
    return d / "nginx.conf"


def nginx(conf: Path, *args: str, **kw):
    return [tool("nginx", "nginx"), "-c", str(conf), "-p", str(conf.parent),
            "-e", str(conf.parent / "error.log"), *args]  # fmt: skip


def test_site_passes_nginx_t(tmp_path, certs):
    conf = render(tmp_path, certs, free_port(), free_port(), free_port())
    result = subprocess.run(nginx(conf, "-t"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_nginx_t_reports_a_broken_site(tmp_path, certs):
    """The check above can fail: a directive nginx does not know is reported with its line."""
    conf = render(tmp_path, certs, free_port(), free_port(), free_port())
    site_file = tmp_path / "duban.conf"
    site_file.write_text(
        site_file.read_text().replace("proxy_request_buffering on;", "proxy_request_bufering on;")
    )
    result = subprocess.run(nginx(conf, "-t"), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert 'unknown directive "proxy_request_bufering"' in result.stderr


@dataclass
class Stack:
    https: int
    http: int
    ca: Path
    acme: Path

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.https}{path}"


def start_nginx(d: Path, certs, upstream: int) -> tuple[subprocess.Popen, Stack]:
    https, http = free_port(), free_port()
    conf = render(d, certs, https, http, upstream)
    (d / "acme").mkdir()
    proc = subprocess.Popen(nginx(conf, "-g", "daemon off;"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, proc.stdout.read() + (d / "error.log").read_text()
        try:
            socket.create_connection(("127.0.0.1", https), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "nginx did not listen"
            time.sleep(0.1)
    return proc, Stack(https, http, certs[0], d / "acme")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, certs, redis_url):
    """nginx with the site in front of the app under gunicorn, with ONE worker thread: were a
    slow body passed on as it trickles in, that thread would wait for it and serve nobody."""
    port = free_port()
    env = app_env(redis_url, "nginx", DUBAN_ADMIN_PASSWORD=ADMIN_PASSWORD,
                  DUBAN_SECRET_KEY="nginx-test-secret",
                  DUBAN_TRUSTED_PROXIES="127.0.0.1")  # fmt: skip
    web = start_gunicorn(port, env, "--workers", "1", "--threads", "1")
    try:
        wait_healthy(web, f"http://127.0.0.1:{port}/healthz")
        proc, running = start_nginx(tmp_path_factory.mktemp("nginx"), certs, port)
        try:
            yield running
        finally:
            stop(proc)
    finally:
        stop(web)


def test_https_reaches_the_app_with_security_headers(stack):
    resp = requests.get(stack.url("/healthz"), verify=stack.ca, timeout=10)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "redis": True}
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    assert resp.headers["Server"] == "nginx"  # no version


def test_plain_http_redirects_except_the_acme_challenge(stack):
    resp = requests.get(f"http://127.0.0.1:{stack.http}/admin?x=1", allow_redirects=False,
                        timeout=10)  # fmt: skip
    assert resp.status_code == 301
    assert resp.headers["Location"] == "https://127.0.0.1/admin?x=1"
    challenge = stack.acme / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True)
    (challenge / "token123").write_text("proof")
    resp = requests.get(f"http://127.0.0.1:{stack.http}/.well-known/acme-challenge/token123",
                        timeout=10)  # fmt: skip
    assert (resp.status_code, resp.text) == (200, "proof")


def csrf_token(stack: Stack, client: requests.Session) -> str:
    """The login page's CSRF token, as a browser gets it with the session cookie."""
    page = client.get(stack.url("/admin/login"), verify=stack.ca, timeout=10)
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_a_body_over_the_limit_is_refused_by_nginx_one_at_the_limit_reaches_the_app(stack):
    """nginx's limit is the app's own (Flask refuses a larger body with 413 too): a login form
    one byte over is stopped by nginx, one at the limit is read by the app."""
    limit = Settings().max_body_bytes
    client = requests.Session()
    head = f"csrf={csrf_token(stack, client)}&password=".encode()
    for size_, status in ((limit + 1, 413), (limit, 401)):
        resp = client.post(stack.url("/admin/login"), data=head + b"x" * (size_ - len(head)),
                           headers={"Content-Type": "application/x-www-form-urlencoded"},
                           verify=stack.ca, timeout=10)  # fmt: skip
        assert resp.status_code == status, size_
    assert (
        "<center>nginx</center>"
        in client.post(
            stack.url("/admin/login"), data=b"x" * (limit + 1), verify=stack.ca, timeout=10
        ).text
    )  # nginx's own page: gunicorn never saw it
    assert "密码不正确" in resp.text  # the app read the whole form at the limit


class FromAddress(HTTPAdapter):
    """Connections from another loopback address (127.0.0.0/8 is all this host's)."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_from(address: str) -> requests.Session:
    client = requests.Session()
    client.mount("https://", FromAddress(address))
    return client


def login(stack: Stack, client: requests.Session, password: str, **headers) -> int:
    data = {"csrf": csrf_token(stack, client), "password": password}
    return client.post(stack.url("/admin/login"), data=data, headers=headers, verify=stack.ca,
                       timeout=10, allow_redirects=False).status_code  # fmt: skip


def test_wrong_passwords_lock_out_their_sender_only(stack, redis_url):
    """Behind nginx every request reaches gunicorn from 127.0.0.1. The login throttle must count
    the client nginx names (believed since 127.0.0.1 is a trusted proxy), or ten wrong passwords
    from anyone lock the office out; and a client's own X-Forwarded-For must not let it pose as
    somebody new each time."""
    # The account's own count (failures from any address slow it down) starts afresh: the
    # wrong passwords other tests of this module sent count for it too.
    client = redis.Redis.from_url(redis_url)
    RedisStore(client, "nginx").logins.succeeded("127.0.0.1")
    client.close()
    stranger = client_from("127.0.0.2")
    for i in range(LOGIN_MAX_FAILURES):
        assert login(stack, stranger, "guess", **{"X-Forwarded-For": f"10.9.9.{i}"}) == 401
    assert login(stack, stranger, "guess", **{"X-Forwarded-For": "10.9.9.99"}) == 429
    assert login(stack, client_from("127.0.0.3"), ADMIN_PASSWORD) == 302  # the office gets in


def test_a_slow_client_never_holds_gunicorn(stack):
    """Three callers send half a form and stop (the login form: the app reads that body; an
    unconfigured hook would answer before reading). The single gunicorn thread stays free."""
    ctx = ssl.create_default_context(cafile=str(stack.ca))
    head = (b"POST /admin/login HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")  # fmt: skip
    slow = []
    try:
        for _ in range(3):
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", stack.https), timeout=5),
                                server_hostname="127.0.0.1")  # fmt: skip
            s.sendall(head + b"password=" + b"x" * 491)
            slow.append(s)
        time.sleep(0.5)  # time enough for nginx to pass them on, were it to
        for _ in range(3):
            resp = requests.get(stack.url("/healthz"), verify=stack.ca, timeout=3)
            assert resp.status_code == 200
    finally:
        for s in slow:
            s.close()


def test_static_files_may_be_cached_for_an_hour(stack):
    resp = requests.get(stack.url("/admin/static/duban.css"), verify=stack.ca, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "max-age=3600"  # the app's no-cache is replaced
    assert "Expires" in resp.headers


def test_a_stuck_callback_gets_504_before_wecoms_deadline(tmp_path, certs):
    """An upstream that accepts and never answers: nginx answers the platform itself in time
    (the platform then delivers again, and the app dedupes the message)."""
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        proc, running = start_nginx(tmp_path, certs, blackhole.getsockname()[1])
        try:
            started = time.monotonic()
            resp = requests.post(running.url("/hooks/wecom"), data=b"<xml/>", verify=running.ca,
                                 timeout=30)  # fmt: skip
            waited = time.monotonic() - started
        finally:
            stop(proc)
    assert resp.status_code == 504
    assert waited < 5.0


def test_only_the_fill_pages_upload_takes_a_file_sized_body():
    """The upload's body limit fits DUBAN_FILE_MAX_MB and the form around it; its path is the
    one the app lets through with a larger body (bot/web/fill.py is_upload)."""
    from bot.web import fill

    (upload,) = [loc for loc in https_server().find("location") if loc.args[0] == "~"]
    pattern = re.compile(upload.args[-1])
    assert pattern.match("/m/AbC_d-9.qfe5k0.sig/12/upload")
    assert fill.is_upload("/m/AbC_d-9.qfe5k0.sig/12/upload")
    for other in ("/m/x/12/link", "/admin/upload", "/m/x/12/upload/more", "/hooks/upload"):
        assert not pattern.match(other) and not fill.is_upload(other)
    limit = size(upload.value("client_max_body_size"))
    settings = Settings(file_max_mb=int(env_example()["DUBAN_FILE_MAX_MB"]))
    assert fill.upload_limit(settings) <= limit < settings.file_max_bytes + 2 * 1024 * 1024
    assert upload.value("proxy_pass") == location("/").value("proxy_pass")
