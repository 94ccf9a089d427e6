"""deploy/redis.conf, run by the venv's redis-server and by Debian's where it is installed (the
one a host install uses): it starts with the test's password, port and directory on the
command line (as docker-compose.yml passes its own), CONFIG GET shows the production settings,
strangers and the renamed commands are refused, an acknowledged write survives kill -9, a full
memory refuses writes instead of dropping data, and Duban's store and RQ work on it."""

from __future__ import annotations

import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from rq import Queue, Worker

from bot.config import Settings
from bot.embedded import find_redis_server, free_port
from bot.messages import Incoming
from bot.runtime import build_runtime
from tests.deploy.helpers import DEPLOY, env_example

CONF = DEPLOY / "redis.conf"
PLACEHOLDER = "REPLACE_WITH_REDIS_PASSWORD"


class Server:
    """redis-server with deploy/redis.conf; the password, port and directory are the test's."""

    def __init__(self, binary: str, data_dir: Path):
        self.binary, self.dir = binary, data_dir
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def start(self) -> Server:
        self.proc = subprocess.Popen(
            [self.binary, str(CONF), "--port", str(self.port), "--dir", str(self.dir),
             "--pidfile", "", "--requirepass", self.password],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stdout.read()
            try:
                if self.client().ping():
                    return self
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.05)
        raise AssertionError("redis-server did not answer")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)


@pytest.fixture(params=["venv", "debian"])
def binary(request) -> str:
    if request.param == "venv":
        return find_redis_server()
    found = shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if not found:
        pytest.skip("Debian's redis-server is not installed here")
    return found


@pytest.fixture
def server(binary, tmp_path):
    s = Server(binary, tmp_path).start()
    yield s
    s.kill(signal.SIGTERM)


def test_starts_with_aof_every_second_noeviction_and_a_loopback_bind(server):
    config = server.client().config_get("*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["maxmemory-policy"] == "noeviction"
    assert int(config["maxmemory"]) >= 256 * 1024 * 1024
    assert config["protected-mode"] == "yes"
    assert config["bind"].split() == ["127.0.0.1", "-::1"]
    assert config["requirepass"] == server.password  # the command line's, not the placeholder
    assert (config["port"], config["dir"]) == (str(server.port), str(server.dir))
    assert config["pidfile"] == ""  # not Debian's: that belongs to the machine's own Redis
    assert config["save"]  # and an RDB snapshot to copy


def test_the_shipped_password_is_a_placeholder_the_env_file_shares():
    """Nobody commits a real password, and the operator replaces the same word in both files."""
    lines = [
        line.split() for line in CONF.read_text().splitlines() if line.startswith("requirepass")
    ]
    assert lines == [["requirepass", PLACEHOLDER]]
    assert f":{PLACEHOLDER}@" in env_example()["DUBAN_REDIS_URL"]


def test_fits_debians_redis_server_unit():
    """Copied over /etc/redis/redis.conf, the file is what Debian's unit starts, and it writes
    the PID file that unit waits for."""
    unit = Path("/lib/systemd/system/redis-server.service")
    if not unit.exists():
        pytest.skip("Debian's redis-server package is not installed here")
    service = dict(
        line.split("=", 1)
        for line in unit.read_text().splitlines()
        if "=" in line and line[0] != "#"
    )
    assert service["ExecStart"].split()[:2] == ["/usr/bin/redis-server", "/etc/redis/redis.conf"]
    assert "/etc/redis/redis.conf" in CONF.read_text()
    (pidfile,) = [
        line.split()[1] for line in CONF.read_text().splitlines() if line.startswith("pidfile")
    ]
    assert pidfile == service["PIDFile"]
    (data_dir,) = [
        line.split()[1] for line in CONF.read_text().splitlines() if line.startswith("dir ")
    ]
    assert f"-{data_dir}" in unit.read_text()  # a ReadWritePaths= of that unit


def ask(port: int, *commands: bytes) -> bytes:
    """Commands in Redis's inline protocol on one fresh connection; every answer line."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(c + b"\r\n" for c in commands))
        answer = b""
        while answer.count(b"\r\n") < len(commands):
            answer += s.recv(4096)
        return answer


def test_refuses_a_client_without_the_password(server):
    assert ask(server.port, b"PING").startswith(b"-NOAUTH")
    assert ask(server.port, b"AUTH wrong", b"PING").startswith(b"-WRONGPASS")
    assert ask(server.port, b"AUTH " + server.password.encode(), b"PING") == b"+OK\r\n+PONG\r\n"


@pytest.mark.parametrize(
    "command", ["FLUSHALL", "FLUSHDB", "DEBUG SLEEP 0", "MODULE LIST", "KEYS *"]
)
def test_dangerous_commands_are_not_there(server, command):
    client = server.client()
    client.set("kept", "1")
    with pytest.raises(redis.ResponseError, match="unknown command"):
        client.execute_command(*command.split())
    assert client.get("kept") == b"1"


def rt_for(server: Server):
    return build_runtime(Settings(redis_url=server.url, key_prefix="conf"))


def say(rt, user: str, text: str) -> str:
    msg = Incoming(platform="console", user_id=user, text=text, mentioned=True,
                   message_id=secrets.token_hex(8))  # fmt: skip
    return rt.dispatcher.handle(msg).text


def test_an_acknowledged_submission_survives_kill_9(server):
    """Redis writes the append-only file before it answers: killed without warning, it loses
    nothing it acknowledged."""
    rt = rt_for(server)
    ind, dept = next(iter(rt.assignments))
    say(rt, "u1", f"绑定 {dept}")
    url = "https://www.example.gov.cn/kill-9"
    assert "已收到" in say(rt, "u1", f"提交 {ind} {url} 材料")
    rt.close()
    server.kill(signal.SIGKILL)
    server.start()
    rt = rt_for(server)
    assert url in say(rt, "u1", f"查看 {ind}")
    rt.close()


def test_a_full_memory_refuses_writes_and_keeps_every_key(server):
    client = server.client()
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 512 * 1024)
    written = 0
    with pytest.raises(redis.ResponseError, match="maxmemory"):
        for i in range(10_000):
            client.set(f"k{i}", "x" * 10_000)
            written += 1
    assert written > 10
    assert client.dbsize() == written  # nothing evicted


def test_rq_works_on_it_with_its_client_commands(server):
    conn = server.client()
    queue = Queue("conf", connection=conn)
    job = queue.enqueue("os.getpid")
    worker = Worker([queue], connection=conn)
    worker.work(burst=True)
    assert job.get_status(refresh=True) == "finished"
    assert worker.ip_address != "unknown"  # CLIENT SETNAME and CLIENT LIST answered
