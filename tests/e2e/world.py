"""The world of the end-to-end delivery and fault tests: the stub platform server (the `stub`
fixture of tests/e2e/conftest.py), an org whose 司法局 chat is one robot (or several), DUBAN_*
settings in the environment of real worker subprocesses (`python -m bot.worker`), and the store
and queues as the web process sees them.

Time is compressed through settings, not mocked: the budget window is 3 s instead of 60
(DUBAN_ROBOT_WINDOW_S; 20 messages per window as in production), cooldowns 2 s, the read timeout
1 s, retry backoff 1/6/24 s, and an unfinished push's lease 3 s. A ticker thread stands in for
the scheduler process: it moves due retries from RQ's scheduled registries back onto their
queues (bot.scheduler.retry_releaser, as the scheduler does) and enqueues the drain job every
second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import yaml
from rq import Worker

from bot import delivery
from bot.config import Settings
from bot.messages import Notice
from bot.queue import all_queues, make_enqueue, make_queue
from bot.scheduler import retry_releaser
from bot.store import RedisStore
from tests.e2e.runner import children_of
from tests.outbox import queue_notices
from tests.stubs.platform_server import PlatformStub

ROOT = Path(__file__).resolve().parents[2]
DEPT = "司法局"
WINDOW_S = 3.0
OFFICE = "office001"  # a DingTalk user of the office (org.yaml admins)
PREFIX = "e2e"  # DUBAN_KEY_PREFIX of the workers and the store


class World:
    """The stub, an org whose 司法局 chat is one robot, settings in the environment of the
    workers, and the store and queue as the web process would see them."""

    def __init__(
        self, tmp: Path, redis_url: str, stub: PlatformStub, chat: dict | list[dict], **env: str
    ):
        self.tmp, self.stub = tmp, stub
        org = yaml.safe_load((ROOT / "org.yaml").read_text(encoding="utf-8"))
        for d in org["departments"]:
            if d["name"] == DEPT:
                d["chats"] = chat if isinstance(chat, list) else [chat]
        org["admins"].append({"platform": "dingtalk", "user_id": OFFICE})
        org_path = tmp / "org.yaml"
        org_path.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
        self.env = {
            "DUBAN_REDIS_URL": redis_url,
            "DUBAN_KEY_PREFIX": PREFIX,
            # no daily backup written into the checkout's var/ (tests/store/test_backup.py)
            "DUBAN_BACKUP_KEEP": "0",
            "DUBAN_ORG": str(org_path),
            "DUBAN_WECOM_API_BASE": stub.url,
            "DUBAN_DINGTALK_API_BASE": stub.url,
            "DUBAN_DINGTALK_OAPI_BASE": stub.url,
            "DUBAN_DINGTALK_APP_KEY": "ding-app-key",
            "DUBAN_DINGTALK_APP_SECRET": "ding-app-secret",
            "DUBAN_DINGTALK_ROBOT_CODE": "ding-robot",
            "DUBAN_ROBOT_PER_MINUTE": "20",
            "DUBAN_ROBOT_WINDOW_S": str(WINDOW_S),
            "DUBAN_PUSH_TIMEOUT_S": "1",
            "DUBAN_PUSH_BACKOFF_S": "1",
            "DUBAN_COOLDOWN_WECOM_S": "2",
            "DUBAN_COOLDOWN_DINGTALK_S": "2",
            "DUBAN_FEISHU_APP_ID": "cli_e2e",
            "DUBAN_FEISHU_APP_SECRET": "feishu-e2e-secret",
            "DUBAN_FEISHU_VERIFICATION_TOKEN": "feishu-e2e-token",
            "DUBAN_FEISHU_API_BASE": stub.url,
            "DUBAN_COOLDOWN_FEISHU_S": "2",
            "DUBAN_PUSH_LEASE_S": "3",
            **env,
        }
        self.settings = Settings.from_env(self.env)
        self.client = redis.Redis.from_url(redis_url)
        self.store = RedisStore(self.client, PREFIX)
        self.queue = make_queue(self.client, PREFIX)
        self.enqueue = make_enqueue(self.queue, PREFIX)
        self.workers: list[subprocess.Popen] = []
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        release = retry_releaser(*all_queues(self.client, PREFIX))
        last_drain = 0.0
        while not self._stop.wait(0.2):
            release(time.time())
            if time.monotonic() - last_drain >= 1.0:
                self.queue.enqueue(delivery.DRAIN_JOB)
                last_drain = time.monotonic()

    def delivery(self):
        """The delivery of a process of this deployment (its runtime's)."""
        from bot.runtime import build_runtime

        return build_runtime(self.settings, client=self.client).delivery

    def start_worker(self, *args: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
        env.update(self.env)
        log = open(self.tmp / f"worker{len(self.workers)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.worker", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the worker and its work horse
        )
        self.workers.append(proc)
        return proc

    def wait_for_workers(self, n: int) -> None:
        """Until `n` workers listen on the queue (each builds its runtime before it registers)."""
        self.wait_until(
            lambda: len(Worker.all(connection=self.client)) >= n, 30, f"{n} workers listening"
        )

    def wait_for_answering(self) -> None:
        """Until an answering consumer (`--queue answers`, no RQ worker) waits on the inbox:
        its liveness mark is set once it has built its runtime."""
        marks = self.store.keys.inbox_consumer("*")
        self.wait_until(
            lambda: next(self.client.scan_iter(match=marks), None), 30, "the answering consumer"
        )

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the worker and the work horse it forked for the job (RQ puts the horse in
        a process group of its own), as when the machine dies: nothing runs a finally."""
        for pid in [*children_of(proc.pid), proc.pid]:
            os.kill(pid, signal.SIGKILL)
        proc.wait(5)

    def close(self) -> None:
        self._stop.set()
        self._ticker.join(5)
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.client.close()

    def notify(self, *texts: str, department: str = DEPT) -> None:
        queue_notices(self.store, [Notice(t, department) for t in texts])

    def wait_until(self, predicate, timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or predicate}")


@pytest.fixture
def world_for(tmp_path, redis_url, redis_client, stub):
    worlds: list[World] = []

    def make(chat: dict | list[dict], **env: str) -> World:
        w = World(tmp_path, redis_url, stub, chat, **env)
        worlds.append(w)
        return w

    yield make
    for w in worlds:
        w.close()


def wecom(key: str = "robot-1") -> dict:
    return {"platform": "wecom", "webhook_key": key}


def content(rec) -> str:
    body = rec.json
    kind = body["msgtype"]
    if kind in ("markdown", "markdown_v2"):
        return body[kind]["content"] if "content" in body[kind] else body[kind]["text"]
    return body[kind]["content"]
