"""`make run` as a person uses it: `python -m bot.run` brings up the embedded Redis, the web
server (deploy/gunicorn.conf.py), both workers and the scheduler, and Ctrl-C stops them all."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:`port` (/proc/net/tcp: state 0A is LISTEN)."""
    want = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1] == want and row.split()[3] == "0A")


@pytest.fixture
def data_dir():
    path = tempfile.mkdtemp(prefix="duban-run-")  # short: a unix socket path has 107 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start(data_dir: str, port: int | str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {"PORT": str(port), "DUBAN_DEMO": "1", "DUBAN_DATA_DIR": data_dir}
    return subprocess.Popen(
        [sys.executable, "-m", "bot.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            status, body = get(port, "/healthz")
            if status == 200:
                return json.loads(body)
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("the web server did not become healthy")


def test_make_run_serves_then_stops_everything_on_ctrl_c(data_dir):
    port = free_port()
    proc = start(data_dir, port)
    try:
        assert wait_healthy(proc, port) == {"status": "ok", "redis": True}
        status, page = get(port, "/sandbox")
        assert status == 200 and "督办".encode() in page
        # Each of the two web workers listens on a socket of its own (SO_REUSEPORT from
        # deploy/gunicorn.conf.py), so the kernel spreads connections over both.
        deadline = time.monotonic() + 10
        while listening_sockets(port) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listening_sockets(port) == 2
        assert (Path(data_dir) / "redis.sock").exists()
        time.sleep(2)  # every process got past its start (make run stops when one exits)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "督办已启动" in out
    assert listening_sockets(port) == 0
    # the embedded Redis stopped with the rest
    probe = socket.socket(socket.AF_UNIX)
    with probe, pytest.raises(OSError):
        probe.connect(str(Path(data_dir) / "redis.sock"))


def test_make_run_refuses_a_port_in_use_and_starts_nothing(data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start(data_dir, port)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"端口 {port} 已被占用" in err
    assert not (Path(data_dir) / "redis.sock").exists()  # no Redis was started


def test_make_run_refuses_a_port_that_is_not_one(data_dir):
    proc = start(data_dir, "80a")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "PORT 应为 1–65535 之间的端口号，现在是「80a」" in err
    assert not (Path(data_dir) / "redis.sock").exists()


def test_make_run_stops_everything_when_a_process_dies(data_dir):
    port = free_port()
    proc = start(data_dir, port)
    try:
        wait_healthy(proc, port)
        kids = [
            int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        ]
        workers = [k for k in kids if b"bot.worker" in Path(f"/proc/{k}/cmdline").read_bytes()]
        assert len(workers) == 2  # the main queue's worker and the answers worker
        os.kill(workers[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert "意外退出" in err
    assert listening_sockets(port) == 0


class Browser:
    """A sandbox visitor: keeps the session cookie and sends with the page's CSRF token."""

    def __init__(self, port: int):
        import http.cookiejar
        import re

        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.opener.open(self.base + "/sandbox", timeout=10).read().decode()
        self.csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)

    def say(self, user_id: str, text: str) -> str:
        req = urllib.request.Request(
            self.base + "/sandbox/send",
            data=json.dumps({"user_id": user_id, "text": text}).encode(),
            headers={"Content-Type": "application/json", "X-CSRF-Token": self.csrf},
        )
        return json.loads(self.opener.open(req, timeout=10).read())["text"]

    def outbox_html(self) -> str:
        data = json.loads(self.opener.open(self.base + "/sandbox/outbox", timeout=10).read())
        return "\n".join(i["html"] for g in data["groups"] for i in g["items"])


def test_export_links_point_at_the_port_make_run_listens_on(data_dir):
    """PORT=<free> make run: the link 导出 posts leads to this instance, not to port 8000."""
    import re

    port = free_port()
    proc = start(data_dir, port)
    try:
        wait_healthy(proc, port)
        visitor = Browser(port)
        assert "正在生成司法局的资料目录" in visitor.say("zhangsan", "导出")
        deadline = time.monotonic() + 60
        links: list[str] = []
        while not links and time.monotonic() < deadline:
            links = re.findall(r'href="(http[^"]+/exports/[^"]+)"', visitor.outbox_html())
            time.sleep(0.3)
        assert links, "no export link was posted"
        for link in links:
            assert link.startswith(f"http://127.0.0.1:{port}/exports/"), link
            with urllib.request.urlopen(link, timeout=10) as resp:
                assert resp.status == 200 and len(resp.read()) > 1000
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
