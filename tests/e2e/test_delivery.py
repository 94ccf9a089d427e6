"""Outbound delivery end to end: real RQ workers (`python -m bot.worker` subprocesses) push the
outbox to the stub platform server on 127.0.0.1.

Time is compressed through settings, not mocked: the budget window is 3 s instead of 60
(DUBAN_ROBOT_WINDOW_S; 20 messages per window as in production), cooldowns 2 s, the read timeout
1 s, retry backoff 1/6/24 s, and an unfinished push's lease 3 s. A ticker thread stands in for
the scheduler process: it moves due retries from RQ's scheduled registry back onto the queue
(bot.scheduler.retry_releaser, as the scheduler does) and enqueues the drain job every second.
"""

from __future__ import annotations

import json
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
from bot.platforms.feishu.bodies import text_of
from bot.queue import ANSWERS_QUEUE, make_enqueue, make_queue
from bot.render import strip_part_prefix
from bot.scheduler import retry_releaser
from bot.store import RedisStore
from tests.stubs.platform_server import (
    DINGTALK_GROUP_SEND,
    DINGTALK_ROBOT,
    FEISHU_HOOK,
    FEISHU_MESSAGES,
    WECOM_WEBHOOK,
    PlatformStub,
)

ROOT = Path(__file__).resolve().parents[2]
DEPT = "司法局"
DING_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
WINDOW_S = 3.0


@pytest.fixture
def stub():
    with PlatformStub() as server:
        yield server


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
        org_path = tmp / "org.yaml"
        org_path.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
        self.env = {
            "DUBAN_REDIS_URL": redis_url,
            "DUBAN_KEY_PREFIX": "e2e",
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
            "DUBAN_PUSH_LEASE_S": "3",
            "DUBAN_FEISHU_APP_ID": "cli_e2e",
            "DUBAN_FEISHU_APP_SECRET": "feishu-e2e-secret",
            "DUBAN_FEISHU_VERIFICATION_TOKEN": "feishu-e2e-token",
            "DUBAN_FEISHU_API_BASE": stub.url,
            "DUBAN_COOLDOWN_FEISHU_S": "2",
            **env,
        }
        self.settings = Settings.from_env(self.env)
        self.client = redis.Redis.from_url(redis_url)
        self.store = RedisStore(self.client, "e2e")
        self.queue = make_queue(self.client)
        self.enqueue = make_enqueue(self.queue)
        self.workers: list[subprocess.Popen] = []
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        release = retry_releaser(self.queue)
        last_drain = 0.0
        while not self._stop.wait(0.2):
            release(time.time())
            if time.monotonic() - last_drain >= 1.0:
                self.queue.enqueue(delivery.DRAIN_JOB)
                last_drain = time.monotonic()

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
            lambda: len(Worker.all(queue=self.queue)) >= n, 30, f"{n} workers listening"
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
        self.store.add_notices([Notice(t, department) for t in texts])

    def wait_until(self, predicate, timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or predicate}")


def children_of(pid: int) -> list[int]:
    """Direct children of a process, from /proc (Linux)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


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


# --- budget -------------------------------------------------------------------------------------


def test_budget_holds_with_two_workers_pushing_to_one_robot(world_for, stub):
    w = world_for(wecom())
    w.start_worker()
    w.start_worker()
    w.wait_for_workers(2)  # else the first one ready may push everything alone
    w.notify(*(f"第 {i} 条通知" for i in range(30)))
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 30, 40, "30 pushes")
    time.sleep(0.5)
    sent = stub.requests_to(WECOM_WEBHOOK, key="robot-1")
    assert sorted(content(r) for r in sent) == sorted(f"第 {i} 条通知" for i in range(30))
    times = sorted(r.at for r in sent)
    # no more than 20 in any window: the 21st arrival is at least a window after the 1st
    gaps = [times[i + 20] - times[i] for i in range(len(times) - 20)]
    assert min(gaps) >= WINDOW_S, gaps
    finished = [w.queue.fetch_job(i) for i in w.queue.finished_job_registry.get_job_ids()]
    pushes = [j.worker_name for j in finished if j and j.func_name == delivery.PUSH_JOB]
    assert len(set(pushes)) == 2, pushes  # both workers pushed, sharing one budget


# --- rate limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chat", "path", "key", "errcode"),
    [
        (wecom(), WECOM_WEBHOOK, "robot-1", 45009),
        (
            {
                "platform": "dingtalk",
                "webhook": "{stub}/robot/send?access_token=ding-tok",
                "secret": DING_SECRET,
            },
            DINGTALK_ROBOT,
            "ding-tok",
            130101,
        ),
    ],
)
def test_rate_limited_robot_cools_down_then_delivers(world_for, stub, chat, path, key, errcode):
    chat = {k: v.replace("{stub}", stub.url) for k, v in chat.items()}
    w = world_for(chat)
    stub.require_dingtalk_sign("ding-tok", DING_SECRET)  # 加签 checked like DingTalk does
    stub.fail_next(errcode=errcode, key=key)
    w.start_worker()
    w.notify("甲通知", "乙通知")
    w.wait_until(lambda: len(stub.requests_to(path, key)) >= 3, 30, "3 requests")
    time.sleep(0.5)
    sent = stub.requests_to(path, key)
    assert len(sent) == 3  # the throttled one again, and the other one: nothing dropped
    assert sorted(content(r) for r in sent[1:]) == ["乙通知", "甲通知"]
    assert content(sent[0]) in ("甲通知", "乙通知")
    assert sent[1].at - sent[0].at >= 2.0  # the robot rested (cooldown 2 s) before the next
    assert delivery.dead_letters(w.store) == []


def test_feishu_app_rests_as_long_as_feishu_says_then_delivers_each_part_once(world_for, stub):
    # The default cool-down is a minute here: only Feishu's x-ogw-ratelimit-reset (2 s) lets
    # the pushes through within the test's 30 s.
    w = world_for({"platform": "feishu", "chat_id": "oc_sifa"}, DUBAN_COOLDOWN_FEISHU_S="60")
    stub.require_feishu_app("cli_e2e", "feishu-e2e-secret")
    stub.feishu_reset_s = 2
    stub.fail_next(errcode=99991400, key="oc_sifa")
    w.start_worker()
    w.notify("甲通知", "乙通知")
    w.wait_until(lambda: len(stub.requests_to(FEISHU_MESSAGES, "oc_sifa")) >= 3, 30, "3 sends")
    time.sleep(0.5)
    sent = stub.requests_to(FEISHU_MESSAGES, "oc_sifa")
    assert len(sent) == 3 and sorted(text_of(r.json) for r in sent[1:]) == ["乙通知", "甲通知"]
    assert sent[1].at - sent[0].at >= 2.0  # rested as long as Feishu asked
    throttled = next(r for r in sent[1:] if text_of(r.json) == text_of(sent[0].json))
    assert throttled.json["uuid"] == sent[0].json["uuid"]  # the same part, the same uuid
    assert len({r.json["uuid"] for r in sent}) == 2
    assert delivery.dead_letters(w.store) == []


def test_feishu_custom_bot_is_signed_and_cools_down_after_11232(world_for, stub):
    hook = f"{stub.url}{FEISHU_HOOK}hook-sifa"
    w = world_for({"platform": "feishu", "webhook": hook, "secret": "bot-secret"})
    stub.require_feishu_sign("hook-sifa", "bot-secret")
    stub.fail_next(errcode=11232, key="hook-sifa")
    w.start_worker()
    w.notify("甲通知", "乙通知")
    w.wait_until(lambda: len(stub.requests_to(FEISHU_HOOK, "hook-sifa")) >= 3, 30, "3 posts")
    time.sleep(0.5)
    sent = stub.requests_to(FEISHU_HOOK, "hook-sifa")
    assert len(sent) == 3 and sorted(text_of(r.json) for r in sent[1:]) == ["乙通知", "甲通知"]
    assert sent[1].at - sent[0].at >= 2.0  # DUBAN_COOLDOWN_FEISHU_S
    assert all(r.json["sign"] for r in sent)  # and the stub accepted each signature
    assert delivery.dead_letters(w.store) == []


# --- permanent errors ----------------------------------------------------------------------------


def test_permanent_error_goes_to_the_dead_letters_and_can_be_retried(world_for, stub):
    w = world_for(wecom())
    stub.fail_next(errcode=93000, key="robot-1")
    w.start_worker()
    w.notify("审核通知：第 12 项已退回")
    w.wait_until(lambda: delivery.dead_letters(w.store), 20, "a dead letter")
    (dead,) = delivery.dead_letters(w.store)
    assert "93000" in dead["error"]
    assert dead["department"] == DEPT and dead["text"] == "审核通知：第 12 项已退回"
    assert "robot-1" not in str(dead)  # the webhook key is a secret (§1.1)
    assert len(stub.requests_to(WECOM_WEBHOOK)) == 1

    delivery.retry_dead(w.store, w.enqueue, dead["id"])
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 2, 20, "the retry")
    time.sleep(0.5)
    sent = stub.requests_to(WECOM_WEBHOOK)
    assert len(sent) == 2 and content(sent[1]) == "审核通知：第 12 项已退回"
    assert delivery.dead_letters(w.store) == []
    with pytest.raises(LookupError):
        delivery.retry_dead(w.store, w.enqueue, dead["id"])  # already taken


# --- transient errors ----------------------------------------------------------------------------


def test_http_500_and_timeout_are_retried_with_backoff(world_for, stub):
    w = world_for(wecom())
    stub.fail_next(status=500, key="robot-1")
    stub.fail_next(delay=3.0, key="robot-1")  # outlasts the 1 s read timeout
    w.start_worker()
    w.notify("排名推送")
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 3, 30, "3 attempts")
    time.sleep(1.0)
    sent = stub.requests_to(WECOM_WEBHOOK)
    assert [content(r) for r in sent] == ["排名推送"] * 3
    # backoff 1 s, then 6 s; RQ keeps retry times in whole seconds, so each may be up to 1 s
    # early. The second gap also holds the 1 s read timeout.
    assert sent[2].at - sent[1].at >= 1.0 + 6.0 - 1.0
    assert delivery.dead_letters(w.store) == []


def test_dingtalk_openapi_push_uses_one_cached_token(world_for, stub):
    w = world_for({"platform": "dingtalk", "conversation_id": "cid-sifa"})
    w.start_worker()
    w.start_worker()
    w.notify(*(f"开放接口通知 {i}" for i in range(6)))
    w.wait_until(lambda: len(stub.requests_to(DINGTALK_GROUP_SEND)) >= 6, 20, "6 sends")
    tokens = stub.requests_to("/v1.0/oauth2/accessToken")
    assert len(tokens) == 1  # one fetch, shared by both workers through Redis
    sends = stub.requests_to(DINGTALK_GROUP_SEND, key="cid-sifa")
    assert {r.headers["x-acs-dingtalk-access-token"] for r in sends} == {"stub-token-1"}
    assert all(r.json["robotCode"] == "ding-robot" for r in sends)


def test_dingtalk_openapi_token_is_fetched_again_when_refused_or_expired(world_for, stub):
    w = world_for({"platform": "dingtalk", "conversation_id": "cid-sifa"})
    stub.token_expire_in = 302  # cached until 5 minutes before: 2 seconds
    stub.fail_next(status=401, path=DINGTALK_GROUP_SEND)  # the first token is refused
    w.start_worker()
    w.notify("开放接口通知 1")
    w.wait_until(lambda: len(stub.requests_to(DINGTALK_GROUP_SEND)) >= 2, 20, "a second send")
    used = [r.headers["x-acs-dingtalk-access-token"] for r in stub.requests_to(DINGTALK_GROUP_SEND)]
    assert used == ["stub-token-1", "stub-token-2"]  # dropped on 401, fetched anew, delivered
    time.sleep(2.5)  # token 2 expires from the cache
    w.notify("开放接口通知 2")
    w.wait_until(lambda: len(stub.requests_to(DINGTALK_GROUP_SEND)) >= 3, 20, "a third send")
    last = stub.requests_to(DINGTALK_GROUP_SEND)[-1]
    assert last.headers["x-acs-dingtalk-access-token"] == "stub-token-3"
    assert json.loads(last.json["msgParam"])["content"].endswith("开放接口通知 2")
    assert len(stub.requests_to("/v1.0/oauth2/accessToken")) == 3


# --- a worker killed mid-push ---------------------------------------------------------------------


def long_text(lines: int = 300) -> str:
    return "\n".join(
        f"第 {i:03d} 行：各部门按要求报送材料，逐项核对完成情况。" for i in range(lines)
    )


def test_worker_killed_mid_push_gives_exactly_one_delivery(world_for, stub):
    w = world_for(wecom())
    stub.fail_next(delay=30.0, key="robot-1")  # part 1 hangs at the platform
    first = w.start_worker()
    text = long_text()
    w.notify(text)
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 1, 20, "part 1 in flight")
    time.sleep(0.3)
    assert children_of(first.pid), "the work horse posting part 1"
    w.kill(first)  # mid-push: part 1 posted, no answer read, parts 2.. not yet posted

    w.start_worker()  # the lease sweep (drain) resumes the push on the new worker
    n = int(content(stub.requests[0]).split("/")[1].split(")")[0])
    assert n >= 3
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= n, 40, "the other parts")
    time.sleep(2.0)  # nothing more may arrive
    parts = [content(r) for r in stub.requests_to(WECOM_WEBHOOK)]
    assert [p.split("\n")[0] for p in parts] == [f"({i}/{n})" for i in range(1, n + 1)]
    assert "\n".join(strip_part_prefix(p) for p in parts) == text
    (dead,) = delivery.dead_letters(w.store)
    assert dead["status"] == "uncertain" and dead["parts"] == [0]  # the office is told


# --- long messages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chat", "path", "limit"),
    [
        (wecom(), WECOM_WEBHOOK, 4096),
        (
            {"platform": "dingtalk", "webhook": "{stub}/robot/send?access_token=t"},
            DINGTALK_ROBOT,
            20000,
        ),
        ({"platform": "dingtalk", "conversation_id": "cid-long"}, DINGTALK_GROUP_SEND, 15000),
    ],
)
def test_long_message_arrives_complete_in_numbered_parts(world_for, stub, chat, path, limit):
    chat = {k: v.replace("{stub}", stub.url) for k, v in chat.items()}
    w = world_for(chat)
    w.start_worker()
    text = long_text(900 if limit > 4096 else 300) + "\n末行🙂"
    w.notify(text)

    def parts() -> list[str]:
        out = []
        for r in stub.requests_to(path):
            if path == DINGTALK_GROUP_SEND:
                param = r.json["msgParam"]
                assert len(param.encode("utf-8")) <= limit
                out.append(json.loads(param)["content"])
            else:
                assert len(r.body if path == DINGTALK_ROBOT else content(r).encode()) <= limit
                out.append(content(r))
        return out

    w.wait_until(lambda: parts() and len(parts()) == int(parts()[0][3 : parts()[0].index(")")]), 30)
    got = parts()
    n = len(got)
    assert n >= 2
    assert [p.split("\n")[0] for p in got] == [f"({i}/{n})" for i in range(1, n + 1)]
    assert "\n".join(strip_part_prefix(p) for p in got) == text


def test_each_chat_mentions_only_its_own_platforms_liaisons(world_for, stub):
    """A department with a WeCom group and a DingTalk group: an escalation's liaisons are bound on
    either platform, and each push @-mentions only the ids its platform knows."""
    w = world_for(
        [wecom(), {"platform": "dingtalk", "webhook": f"{stub.url}/robot/send?access_token=t"}]
    )
    w.start_worker()
    mentions = ("wecom:zhangsan", "wecom_app:lisi", "dingtalk:staff001", "dingtalk:$:LWCP_v1:$x")
    w.store.add_notices([Notice("**请尽快提交**", DEPT, (*mentions, "console:c1"), "escalation")])
    w.wait_until(lambda: stub.requests_to(WECOM_WEBHOOK) and stub.requests_to(DINGTALK_ROBOT))
    (we,) = stub.requests_to(WECOM_WEBHOOK)
    assert we.json["msgtype"] == "markdown"
    assert content(we).endswith("<@zhangsan><@lisi>")
    (ding,) = stub.requests_to(DINGTALK_ROBOT)
    assert ding.json["at"] == {"atUserIds": ["staff001"], "isAtAll": False}
    assert ding.json["markdown"]["text"].endswith("@staff001")


# --- callbacks answered by a worker (bot/inbox.py) ------------------------------------------------


def test_queued_callbacks_are_answered_by_a_real_worker_exactly_once(world_for, stub):
    from app import create_app
    from tests.http import callbacks as cb
    from tests.stubs.platform_server import DINGTALK_SESSION

    w = world_for(wecom())
    w.env["DUBAN_DINGTALK_APP_SECRET"] = cb.DING_SECRET  # the secret the test callbacks sign with
    settings = Settings.from_env(w.env)
    assert settings.dingtalk_reply == "queue"  # the default
    client = create_app(settings).test_client()

    def post(text: str, msg_id: str) -> dict:
        resp = cb.ding_post(client, cb.ding_payload(text, msg_id, oapi_base=stub.url))
        assert resp.status_code == 200
        return json.loads(resp.get_data())

    w.start_worker()  # the main queue: the outbox drain and pushes
    w.start_worker("--queue", ANSWERS_QUEUE)  # the answers, as `make run` has it
    assert post("绑定 司法局", "e-0") == {"msgtype": "empty"}
    for i, text in enumerate(["我的任务", "说明 12 双随机抽查已完成", "帮助"], start=1):
        assert post(text, f"e-{i}") == {"msgtype": "empty"}
    barrier = threading.Barrier(3)

    def copy() -> None:
        barrier.wait()
        post("提交 12 https://www.jinfeng.gov.cn/sfj/12.html 抽查清单", "e-dup")

    threads = [threading.Thread(target=copy) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    ids = ["e-0", "e-1", "e-2", "e-3", "e-dup"]

    def answered() -> bool:
        return all(stub.requests_to(DINGTALK_SESSION, key=f"sess-{i}") for i in ids)

    w.wait_until(answered, 30, "a reply to every callback")
    time.sleep(1.5)  # nothing more may arrive
    for i in ids:
        assert len(stub.requests_to(DINGTALK_SESSION, key=f"sess-{i}")) == 1, i
    [dup] = stub.requests_to(DINGTALK_SESSION, key="sess-e-dup")
    assert "第12项" in content(dup)
    a, _ = w.store.assignment(12, DEPT)
    assert [m.url for m in a.materials] == ["https://www.jinfeng.gov.cn/sfj/12.html"]
    assert a.explanation == "双随机抽查已完成"
    assert w.store.inbox_backlog() == 0


def test_a_long_job_on_the_main_queue_does_not_hold_an_answer_back(world_for, stub):
    from app import create_app
    from tests.http import callbacks as cb
    from tests.stubs.platform_server import DINGTALK_SESSION

    w = world_for(wecom())
    w.env["DUBAN_DINGTALK_APP_SECRET"] = cb.DING_SECRET
    client = create_app(Settings.from_env(w.env)).test_client()
    w.start_worker()
    w.start_worker("--queue", ANSWERS_QUEUE)
    w.queue.enqueue("time.sleep", 8)  # stands in for a slow link check or a big export
    w.wait_until(lambda: w.queue.started_job_registry.count == 1, 10, "the long job running")
    start = time.monotonic()
    payload = cb.ding_payload("帮助", "e-busy", oapi_base=stub.url)
    assert cb.ding_post(client, payload).status_code == 200
    w.wait_until(lambda: stub.requests_to(DINGTALK_SESSION, key="sess-e-busy"), 10, "the answer")
    assert time.monotonic() - start < 5  # answered while the main worker is still busy
    assert w.queue.started_job_registry.count == 1
