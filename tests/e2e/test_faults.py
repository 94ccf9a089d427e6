"""Redis faults with real processes: the embedded `redis-server` killed with kill -9 under
`python -m bot.run`, and Redis down for 8 s in the middle of a push job. Workers wait and
reconnect instead of quitting, make run brings Redis back, and every push reaches the stub
platform server once (the figures are printed: run with -s to see them).

A ticker stands in for the scheduler's minute (the safety-net drain that also resumes pushes
whose lease ran out, and the release of due retries), so the tests need not wait a minute."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
import yaml

from bot import delivery
from bot.embedded import EmbeddedRedis, free_port
from bot.messages import Notice
from bot.queue import make_enqueue, make_queue
from bot.scheduler import retry_releaser
from bot.store import RedisStore
from tests.e2e.runner import ROOT, MakeRun, wait_until
from tests.stubs.platform_server import WECOM_WEBHOOK, PlatformStub

pytestmark = pytest.mark.slow

DEPT = "司法局"


@pytest.fixture
def short_dir():
    path = tempfile.mkdtemp(prefix="duban-f-")  # a unix socket path has 107 bytes
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def org_with_robot(tmp: Path) -> Path:
    """org.yaml with 司法局's chat a WeCom robot (the stub's)."""
    org = yaml.safe_load((ROOT / "org.yaml").read_text(encoding="utf-8"))
    for d in org["departments"]:
        if d["name"] == DEPT:
            d["chats"] = [{"platform": "wecom", "webhook_key": "robot-1"}]
    path = tmp / "org.yaml"
    path.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    return path


def push_env(tmp: Path, stub: PlatformStub) -> dict[str, str]:
    return {
        "DUBAN_DEMO": "0",  # demo mode pushes nothing
        "DUBAN_ORG": str(org_with_robot(tmp)),
        "DUBAN_WECOM_API_BASE": stub.url,
        "DUBAN_PUSH_TIMEOUT_S": "2",
        "DUBAN_PUSH_BACKOFF_S": "1",
        "DUBAN_PUSH_LEASE_S": "3",
    }


def delivered(stub: PlatformStub, tag: str) -> Counter:
    """How often each notice carrying `tag` reached the robot."""
    texts = []
    for rec in stub.requests_to(WECOM_WEBHOOK, key="robot-1"):
        body = rec.json
        texts.append(body[body["msgtype"]]["content"])
    return Counter(t for t in texts if tag in t)


class Ticker:
    """Every `every` s, what the scheduler does every minute: enqueue the outbox drain (which
    also resumes pushes whose lease ran out) and release retries that are due. Redis errors
    (it is down) are ignored, as the scheduler logs and retries them."""

    def __init__(self, url: str, prefix: str = "duban", every: float = 1.0):
        self.client = redis.Redis.from_url(url, socket_timeout=2)
        self.queue = make_queue(self.client, prefix)
        self.enqueue = make_enqueue(self.queue, prefix)
        self.release = retry_releaser(self.queue)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self.thread.start()

    def _run(self, every: float) -> None:
        while not self.stop.wait(every):
            try:
                self.release(time.time())
                self.enqueue(delivery.DRAIN_JOB, retries=0, on_failure=None)
            except redis.RedisError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.client.close()


def report(title: str, expected: int, counts: Counter) -> None:
    dup = sum(n - 1 for n in counts.values() if n > 1)
    print(f"\n{title}: pushes expected {expected} / delivered {len(counts)} / duplicated {dup}")


def test_redis_killed_under_make_run_comes_back_and_pushes_go_out_once(short_dir, tmp_path, stub):
    port = free_port()
    run = MakeRun(str(short_dir), port, tmp_path / "logs", **push_env(tmp_path, stub))
    ticker = None
    try:
        run.wait_healthy()
        before = run.children()
        url = f"unix://{short_dir / 'redis.sock'}?db=0"
        client = redis.Redis.from_url(url)
        store = RedisStore(client, "duban")
        store.add_notices([Notice(f"故障前第{i}条", DEPT) for i in range(3)])
        ticker = Ticker(url)
        wait_until(lambda: len(delivered(stub, "故障前")) == 3, 30, "the first pushes")

        stub.fail_next(6, delay=0.5)  # slow robot: pushes are in flight when Redis dies
        store.add_notices([Notice(f"故障中第{i}条", DEPT) for i in range(6)])
        wait_until(lambda: delivered(stub, "故障中"), 30, "a push under way")
        os.kill(before["redis"], signal.SIGKILL)
        wait_until(
            lambda: run.children().get("redis") not in (None, before["redis"]), 15, "a new Redis"
        )
        wait_until(lambda: run.wait_healthy(30), 30, "healthy again")
        after = run.children()
        # the workers, the scheduler and the web server kept running: the same processes
        assert {k: v for k, v in after.items() if k != "redis"} == {
            k: v for k, v in before.items() if k != "redis"
        }
        assert "redis 意外退出（被信号 9 终止），1 秒后重新启动。" in run.err
        store.add_notices([Notice(f"故障后第{i}条", DEPT) for i in range(3)])
        wait_until(lambda: len(delivered(stub, "故障后")) == 3, 60, "pushes after the restart")
        wait_until(lambda: len(delivered(stub, "故障中")) == 6, 60, "the pushes in flight")
        time.sleep(3)  # nothing more may arrive
        counts = delivered(stub, "故障")
        report("kill -9 of the embedded Redis under make run", 12, counts)
        assert len(counts) == 12 and set(counts.values()) == {1}, counts
        assert run.children() == after  # nobody died meanwhile
        client.close()
    finally:
        if ticker:
            ticker.close()
        assert run.stop() == 0, run.err


def test_redis_down_8_seconds_during_a_push_job_then_every_push_arrives_once(
    short_dir, tmp_path, stub
):
    server = EmbeddedRedis(short_dir / "redis", port=free_port()).start()  # AOF on
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= push_env(tmp_path, stub) | {"DUBAN_REDIS_URL": server.url}
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot.worker"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    ticker = None
    try:
        client = redis.Redis.from_url(server.url)
        stub.fail_next(6, delay=0.7)
        RedisStore(client, "duban").add_notices([Notice(f"停机第{i}条", DEPT) for i in range(6)])
        ticker = Ticker(server.url)
        wait_until(lambda: delivered(stub, "停机"), 30, "the push job under way")
        server.proc.kill()  # kill -9
        server.proc.wait(5)
        down_at = time.monotonic()
        time.sleep(8)
        assert worker.poll() is None, "the worker quit while Redis was down"
        server = EmbeddedRedis(short_dir / "redis", port=server.port).start()  # same AOF
        wait_until(lambda: len(delivered(stub, "停机")) == 6, 60, "every push")
        took = time.monotonic() - down_at
        time.sleep(3)
        counts = delivered(stub, "停机")
        report(f"Redis down 8 s during a push job (all out {took:.0f} s after the kill)", 6, counts)
        assert len(counts) == 6 and set(counts.values()) == {1}, counts
        assert worker.poll() is None
        client.close()
    finally:
        if ticker:
            ticker.close()
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(15)
        log.close()
        server.stop()
