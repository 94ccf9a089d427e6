"""`make run` as a person uses it: `python -m bot.run` follows deploy/Procfile (the embedded
Redis, the web server, the three workers and the scheduler), prints its banner last, restarts a
process that dies, keeps one owner per data directory, and Ctrl-C stops them all."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.runner import (
    ROOT,
    MakeRun,
    free_port,
    get,
    listening_sockets,
    wait_until,
)


@pytest.fixture
def data_dir():
    path = tempfile.mkdtemp(prefix="duban-run-")  # short: a unix socket path has 107 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def runs(data_dir, tmp_path):
    """Starts `make run`s (each stopped at the end of the test)."""
    started: list[MakeRun] = []

    def start(port: int | str, data: str = "", args: tuple = (), **env: str) -> MakeRun:
        run = MakeRun(data or data_dir, port, tmp_path / "logs", args, **env)
        started.append(run)
        return run

    yield start
    for run in started:
        if run.proc.poll() is None:
            run.stop()


def test_make_run_serves_then_stops_everything_on_ctrl_c(runs, data_dir):
    port = free_port()
    run = runs(port)
    health = run.wait_healthy()
    assert health["status"] == "ok" and health["redis"] is True
    status, page = get(port, "/sandbox")
    assert status == 200 and "督办".encode() in page
    # Each of the two web workers listens on a socket of its own (SO_REUSEPORT from
    # deploy/gunicorn.conf.py), so the kernel spreads connections over both.
    wait_until(lambda: listening_sockets(port) == 2, 10, "two listening sockets")
    assert (Path(data_dir) / "redis.sock").exists()
    # Every process of deploy/Procfile runs, and stays up past its start.
    assert sorted(run.children()) == ["answers", "links", "redis", "scheduler", "web", "worker"]
    time.sleep(2)
    assert sorted(run.children()) == ["answers", "links", "redis", "scheduler", "web", "worker"]
    assert "意外退出" not in run.err
    assert run.stop() == 0, run.err
    assert "督办已启动" in run.out
    assert listening_sockets(port) == 0
    # the embedded Redis stopped with the rest
    probe = socket.socket(socket.AF_UNIX)
    with probe, pytest.raises(OSError):
        probe.connect(str(Path(data_dir) / "redis.sock"))


def test_the_banner_comes_last_and_the_logs_are_quiet(runs):
    """Nothing follows the banner while all is well; DUBAN_LOG_LEVEL=info shows the logs, and
    gunicorn then names the address it listens on."""
    port = free_port()
    run = runs(port)
    run.wait_healthy()
    wait_until(lambda: "督办已启动" in run.out, 10, "the banner")
    time.sleep(3)  # the workers and the scheduler did their first rounds meanwhile
    assert run.out.rstrip().endswith("按 Ctrl-C 停止。"), run.out
    assert f"http://127.0.0.1:{port}/sandbox" in run.out
    assert run.err == "", run.err
    run.stop()

    port = free_port()
    verbose = runs(port, DUBAN_LOG_LEVEL="info")
    verbose.wait_healthy()
    wait_until(lambda: "督办已启动" in verbose.out, 10, "the banner")
    verbose.stop()
    logs = verbose.out + verbose.err
    assert f"Listening at: http://127.0.0.1:{port} " in logs
    assert "Listening at:  (" not in logs


def test_make_run_refuses_a_port_in_use_and_starts_nothing(runs, data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = runs(port)
        assert run.wait() == 1
    assert f"端口 {port} 已被占用" in run.err
    assert not (Path(data_dir) / "redis.sock").exists()  # no Redis was started


def test_make_run_refuses_a_port_that_is_not_one(runs, data_dir):
    run = runs("80a")
    assert run.wait() == 2 and "PORT 应为 1–65535 之间的端口号，现在是「80a」" in run.err
    assert not (Path(data_dir) / "redis.sock").exists()


def test_a_second_make_run_on_the_same_data_directory_says_so_and_stops(runs, data_dir):
    """The README's advice when the port is taken (PORT=8001 make run) must not share the
    first one's Redis: the second start names the owner and what to do, and starts nothing."""
    port = free_port()
    first = runs(port)
    first.wait_healthy()
    before = first.children()
    second = runs(free_port())
    assert second.wait() == 1
    assert (
        f"数据目录 {data_dir} 正由另一个督办使用（进程 {first.proc.pid}，端口 {port}）"
        in second.err
    )
    assert "DUBAN_DATA_DIR=var2 PORT=8001 make run" in second.err
    assert "Traceback" not in second.err and second.out == ""
    assert first.children() == before  # the first one's processes, Redis included, untouched
    assert first.wait_healthy()["status"] == "ok"
    assert first.stop() == 0
    # once the first has stopped, the data directory is free again
    third = runs(free_port())
    assert third.wait_healthy()["status"] == "ok"


def test_make_run_restarts_a_process_that_dies(runs):
    port = free_port()
    run = runs(port)
    run.wait_healthy()
    before = run.children()
    os.kill(before["worker"], signal.SIGKILL)
    wait_until(
        lambda: run.children().get("worker") not in (None, before["worker"]), 15, "a new worker"
    )
    assert run.proc.poll() is None
    assert "worker 意外退出（被信号 9 终止），1 秒后重新启动。" in run.err
    after = run.children()
    assert {k: v for k, v in after.items() if k != "worker"} == {
        k: v for k, v in before.items() if k != "worker"
    }
    assert run.wait_healthy()["status"] == "ok"
    assert run.stop() == 0


def test_make_run_gives_up_on_a_process_that_keeps_failing(runs, tmp_path):
    """A scheduler that exits at once is restarted with growing delays (1, 2, 4, 8 s), then
    make run stops everything and says which one."""
    procfile = tmp_path / "Procfile"
    shipped = (ROOT / "deploy" / "Procfile").read_text()
    failing = 'scheduler: python -c "raise SystemExit(3)"'
    procfile.write_text(re.sub(r"(?m)^scheduler:.*$", failing, shipped))
    port = free_port()
    run = runs(port, args=("--procfile", str(procfile)))
    assert run.wait(timeout=90) == 1
    assert run.err.count("scheduler 意外退出（退出码 3）") == 4
    assert "scheduler 连续 5 次启动后很快退出（退出码 3），已停止全部服务" in run.err
    assert listening_sockets(port) == 0


class Browser:
    """A sandbox visitor: keeps the session cookie and sends with the page's CSRF token."""

    def __init__(self, port: int):
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


def test_export_links_point_at_the_port_make_run_listens_on(runs):
    """PORT=<free> make run: the link 导出 posts leads to this instance, not to port 8000."""
    port = free_port()
    run = runs(port)
    run.wait_healthy()
    visitor = Browser(port)
    assert "正在生成司法局的资料目录" in visitor.say("zhangsan", "导出")
    links = wait_until(
        lambda: re.findall(r'href="(http[^"]+/exports/[^"]+)"', visitor.outbox_html()),
        60,
        "the export link",
        0.3,
    )
    for link in links:
        assert link.startswith(f"http://127.0.0.1:{port}/exports/"), link
        with urllib.request.urlopen(link, timeout=10) as resp:
            assert resp.status == 200 and len(resp.read()) > 1000


def test_make_run_names_a_bad_setting_without_a_traceback(runs, data_dir):
    run = runs(free_port(), DUBAN_TZ="Asia/Shangai")
    assert run.wait() == 2
    assert "督办没有启动：配置有误" in run.err and "DUBAN_TZ" in run.err
    assert "Traceback" not in run.err
    assert not (Path(data_dir) / "redis.sock").exists()
