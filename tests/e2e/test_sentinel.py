"""Redis Sentinel (issue 18): two web processes, two answering workers and the scheduler run
against a master with two replicas watched by three sentinels; the master is killed with kill -9
in the middle of a stream of signed 提交. The sentinels promote a replica, every process finds
the new master through them, and every callback that was acknowledged (200) is in the new
master's store and got exactly one reply; no process died. DUBAN_REDIS_MIN_REPLICAS=1 makes each
acknowledgement wait until a replica holds the write (Redis WAIT), without which the last
acknowledged writes before the kill could be lost: replication is asynchronous.

Figures (run with -s): callbacks sent / acknowledged / answered 5xx, present and replied after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import redis
from redis.sentinel import Sentinel

from bot.catalog import load_catalog
from bot.config import Settings
from bot.embedded import find_redis_server, free_port
from bot.store import RedisStore
from bot.store.connection import connect_redis
from tests.e2e.runner import ROOT, wait_until
from tests.http.callbacks import DING_SECRET, ding_headers, ding_payload
from tests.stubs.platform_server import DINGTALK_SESSION, PlatformStub

MASTER = "duban"
PREFIX = "sen"
DEPT = "司法局"


class Cluster:
    """A master, two replicas and three sentinels, each a redis-server process of the venv."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.server = find_redis_server()
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports = {name: free_port() for name in ("m", "r1", "r2", "s1", "s2", "s3")}

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        self.procs[name] = subprocess.Popen([self.server, *args], stdout=log, stderr=log)

    def start(self) -> Cluster:
        master_port = self.ports["m"]
        for name in ("m", "r1", "r2"):
            d = self.tmp / name
            d.mkdir()
            args = ["--port", str(self.ports[name]), "--bind", "127.0.0.1", "--dir", str(d),
                    "--save", "", "--appendonly", "no"]  # fmt: skip
            if name != "m":
                args += ["--replicaof", "127.0.0.1", str(master_port)]
            self._start(name, args)
        for name in ("s1", "s2", "s3"):
            conf = self.tmp / f"{name}.conf"
            conf.write_text(
                f"port {self.ports[name]}\nbind 127.0.0.1\ndir {self.tmp}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 4000\n"
            )
            self._start(name, [str(conf), "--sentinel"])
        sentinel = self.sentinel()
        wait_until(
            lambda: _quiet(lambda: len(sentinel.discover_slaves(MASTER)) == 2), 30, "replicas seen"
        )
        wait_until(
            lambda: all(
                _quiet(
                    lambda p=p: (
                        len(redis.Redis(port=p).execute_command("SENTINEL", "SENTINELS", MASTER))
                        == 2
                    )
                )
                for p in self.sentinel_ports
            ),
            30,
            "the sentinels see each other",
        )
        return self

    @property
    def sentinel_ports(self) -> list[int]:
        return [self.ports[n] for n in ("s1", "s2", "s3")]

    def sentinel(self) -> Sentinel:
        return Sentinel([("127.0.0.1", p) for p in self.sentinel_ports], socket_timeout=1)

    def master_port(self) -> int:
        return int(self.sentinel().discover_master(MASTER)[1])

    def kill_master(self) -> None:
        self.procs["m"].send_signal(signal.SIGKILL)
        self.procs["m"].wait(10)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)


def _quiet(check) -> bool:
    try:
        return bool(check())
    except (redis.RedisError, OSError):
        return False


def _post(port: int, text: str, msg_id: str, stub_url: str) -> int:
    payload = ding_payload(text, msg_id, user="sen-user", oapi_base=stub_url)
    body = json.dumps(payload, ensure_ascii=False).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/dingtalk", data=body, headers=ding_headers(), method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return 0


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path).start()
    yield c
    c.stop()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_failover_loses_no_acknowledged_callback_and_answers_each_once(cluster, tmp_path):
    stub = PlatformStub().start()
    sentinels = ",".join(f"127.0.0.1:{p}" for p in cluster.sentinel_ports)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_REDIS_SENTINELS": sentinels,
        "DUBAN_REDIS_SENTINEL_MASTER": MASTER,
        "DUBAN_REDIS_MIN_REPLICAS": "1",
        "DUBAN_KEY_PREFIX": PREFIX,
        "DUBAN_DATA_DIR": str(tmp_path / "data"),
        "DUBAN_SECRET_KEY": "sentinel-test",
        "DUBAN_DINGTALK_APP_KEY": "ding-app-key",
        "DUBAN_DINGTALK_APP_SECRET": DING_SECRET,
        "DUBAN_DINGTALK_ROBOT_CODE": "ding-robot",
        "DUBAN_DINGTALK_OAPI_BASE": stub.url,
        "DUBAN_DINGTALK_API_BASE": stub.url,
        "DUBAN_BACKUP_KEEP": "0",
        "DUBAN_LOG_LEVEL": "warning",
    }
    ports = [free_port(), free_port()]
    cmds = {
        **{
            f"web{i}": [
                sys.executable,
                "-m",
                "gunicorn",
                "app:create_app()",
                "-c",
                str(ROOT / "deploy" / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
                "--no-control-socket",
            ]  # fmt: skip
            for i, port in enumerate(ports)
        },
        "answers0": [sys.executable, "-m", "bot.worker", "--queue", "answers"],
        "answers1": [sys.executable, "-m", "bot.worker", "--queue", "answers"],
        "worker": [sys.executable, "-m", "bot.worker"],
        "scheduler": [sys.executable, "-m", "bot.scheduler"],
    }
    procs: dict[str, subprocess.Popen] = {}
    for name, cmd in cmds.items():
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log,
                                       start_new_session=True)  # fmt: skip
    settings = Settings.from_env(env)
    client, _ = connect_redis(settings)
    store = RedisStore(client, PREFIX)
    statuses: dict[str, int] = {}
    try:
        for port in ports:
            wait_until(lambda p=port: _post(p, "帮助", f"probe-{p}", stub.url) == 200, 60, "web")
        assert _post(ports[0], f"绑定 {DEPT}", "bind-1", stub.url) == 200
        wait_until(lambda: store.bindings.get("dingtalk", "sen-user") is not None, 30, "bound")
        catalog = load_catalog(ROOT / "indicators.yaml")
        # items a link may be submitted to (a 涉密 item refuses links, with a reason)
        indicators = sorted(
            i for i in store.assignments.of_department(DEPT) if not catalog.get(i).is_secret
        )
        old_master = cluster.master_port()

        def send(n: int, pause: float) -> None:
            for i in range(n):
                mid = f"sub-{i}"
                ind = indicators[i % len(indicators)]
                text = f"提交 {ind} https://www.nxjf.gov.cn/sen/{i}.html 材料{i}"
                statuses[mid] = _post(ports[i % 2], text, mid, stub.url)
                time.sleep(pause)

        sender = threading.Thread(target=send, args=(150, 0.05))
        sender.start()
        time.sleep(2.0)
        cluster.kill_master()
        sender.join(120)
        wait_until(lambda: _quiet(lambda: cluster.master_port() != old_master), 30, "failover")
        acked = sorted(m for m, code in statuses.items() if code == 200)

        def replied(mid: str) -> int:
            return len(stub.requests_to(DINGTALK_SESSION, key=f"sess-{mid}"))

        wait_until(lambda: all(replied(m) for m in acked), 150, "a reply to every acknowledged")
        time.sleep(2)  # a duplicate would come now
        present = set()
        for a in store.assignments.of_department(DEPT).values():
            for m in a.materials:
                if "/sen/" in m.url:
                    present.add(f"sub-{m.url.rsplit('/', 1)[1].removesuffix('.html')}")
        codes = Counter(statuses.values())
        replies = Counter({m: replied(m) for m in acked})
        print(
            f"\nsentinel failover: sent {len(statuses)} / acknowledged {len(acked)} / "
            f"refused {sum(n for c, n in codes.items() if c != 200)} ({dict(codes)}); "
            f"present {len(present & set(acked))} of the acknowledged; replies "
            f"{sum(replies.values())} to {len(acked)} acknowledged"
        )
        assert len(statuses) == 150
        missing = {
            m: [r.json for r in stub.requests_to(DINGTALK_SESSION, key=f"sess-{m}")]
            for m in set(acked) - present
        }
        assert not missing, missing
        assert all(n == 1 for n in replies.values()), {m: n for m, n in replies.items() if n != 1}
        dead = {name: p.returncode for name, p in procs.items() if p.poll() is not None}
        assert not dead, dead
        assert 0 < len(acked) < 150 or codes[200] == 150
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        client.close()
        stub.stop()
