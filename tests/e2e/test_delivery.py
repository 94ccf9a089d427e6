"""Outbound delivery end to end: real RQ workers (`python -m bot.worker` subprocesses) push the
outbox to the stub platform server on 127.0.0.1 (the world of tests/e2e/world.py, with time
compressed through settings).
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from bot import delivery
from bot.config import Settings
from bot.messages import Notice
from bot.platforms.feishu.bodies import text_of
from bot.queue import ANSWERS
from bot.render import strip_part_prefix
from tests.e2e.world import DEPT, WINDOW_S, children_of, content, wecom
from tests.outbox import queue_notices
from tests.stubs.platform_server import (
    DINGTALK_GROUP_SEND,
    DINGTALK_ROBOT,
    FEISHU_HOOK,
    FEISHU_MESSAGES,
    WECOM_WEBHOOK,
)

DING_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


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
    assert "robot-1" not in str(dead)  # the webhook key is a secret
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


def test_http_500_is_retried_with_backoff(world_for, stub):
    w = world_for(wecom())
    stub.fail_next(2, status=500, key="robot-1")  # refused: surely not shown in the group
    w.start_worker()
    w.notify("排名推送")
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 3, 30, "3 attempts")
    time.sleep(1.0)
    sent = stub.requests_to(WECOM_WEBHOOK)
    assert [content(r) for r in sent] == ["排名推送"] * 3
    # backoff 1 s, then 6 s; RQ keeps retry times in whole seconds, so each may be up to 1 s
    # early.
    assert sent[2].at - sent[1].at >= 6.0 - 1.0
    assert delivery.dead_letters(w.store) == []


def test_a_platform_slower_than_the_timeout_never_gets_the_message_twice(world_for, stub):
    """The platform took the request but answered after the 1 s read timeout: whether the group
    shows it cannot be known, so it is not posted again but shown to the office, who decides."""
    w = world_for(wecom())
    stub.fail_next(delay=3.0, key="robot-1")  # the first of four pushes: answered after 3 s
    w.start_worker()
    w.notify(*(f"推送 {i}" for i in range(4)))
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 4, 30, "4 pushes")
    w.wait_until(lambda: delivery.dead_letters(w.store), 10, "the uncertain push listed")
    time.sleep(8.0)  # longer than the first two retry backoffs (1 s, 6 s): nothing more comes
    sent = [content(r) for r in stub.requests_to(WECOM_WEBHOOK)]
    assert sorted(sent) == [f"推送 {i}" for i in range(4)]  # expected 4, delivered 4, twice 0
    (dead,) = delivery.dead_letters(w.store)
    assert dead["status"] == "uncertain" and dead["text"] == "推送 0"
    delivery.retry_dead(w.store, w.enqueue, dead["id"])  # the office: "not in the group, resend"
    w.wait_until(lambda: len(stub.requests_to(WECOM_WEBHOOK)) >= 5, 20, "the resend")
    assert content(stub.requests_to(WECOM_WEBHOOK)[-1]) == "推送 0"
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
    queue_notices(
        w.store, [Notice("**请尽快提交**", DEPT, (*mentions, "console:c1"), "escalation")]
    )
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
    w.start_worker("--queue", ANSWERS)  # the answers, as `make run` has it
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
    a, _ = w.store.assignments.get(12, DEPT)
    assert [m.url for m in a.materials] == ["https://www.jinfeng.gov.cn/sfj/12.html"]
    assert a.explanation == "双随机抽查已完成"
    assert w.store.inbox.backlog() == 0


def test_a_long_job_on_the_main_queue_does_not_hold_an_answer_back(world_for, stub):
    from app import create_app
    from tests.http import callbacks as cb
    from tests.stubs.platform_server import DINGTALK_SESSION

    w = world_for(wecom())
    w.env["DUBAN_DINGTALK_APP_SECRET"] = cb.DING_SECRET
    client = create_app(Settings.from_env(w.env)).test_client()
    w.start_worker()
    w.start_worker("--queue", ANSWERS)
    w.wait_for_answering()  # its start-up is not what this test times
    w.queue.enqueue("time.sleep", 8)  # stands in for a slow link check or a big export
    w.wait_until(lambda: w.queue.started_job_registry.count == 1, 10, "the long job running")
    start = time.monotonic()
    payload = cb.ding_payload("帮助", "e-busy", oapi_base=stub.url)
    assert cb.ding_post(client, payload).status_code == 200
    w.wait_until(lambda: stub.requests_to(DINGTALK_SESSION, key="sess-e-busy"), 10, "the answer")
    assert time.monotonic() - start < 5  # answered while the main worker is still busy
    assert w.queue.started_job_registry.count == 1


def test_an_answering_process_killed_in_a_burst_leaves_no_command_unanswered_or_twice(
    world_for, stub
):
    """SIGKILL the answering consumer (a real `python -m bot.worker --queue answers`) while a
    burst of signed callbacks is being answered; a second one, started after, takes over what
    the first had read and not acknowledged. Every acknowledged command gets exactly one reply
    at the stub (but the one the process may have been posting as it died: see `uncertain`),
    none gets two, and every command runs once."""
    import signal
    import socket

    from app import create_app
    from tests.http import callbacks as cb
    from tests.stubs.platform_server import DINGTALK_SESSION

    w = world_for(wecom())
    w.env["DUBAN_DINGTALK_APP_SECRET"] = cb.DING_SECRET
    client = create_app(Settings.from_env(w.env)).test_client()
    n = 160
    texts = ["我的任务", "查看 12", "帮助"]
    ids = [f"k-{i}" for i in range(n)]
    acked: list[str] = []

    def post(text: str, msg_id: str) -> None:
        resp = cb.ding_post(client, cb.ding_payload(text, msg_id, oapi_base=stub.url))
        if resp.status_code == 200 and json.loads(resp.get_data()) == {"msgtype": "empty"}:
            acked.append(msg_id)

    def replies() -> dict[str, int]:
        got: dict[str, int] = {}
        for r in stub.requests_to(DINGTALK_SESSION):
            key = r.key.removeprefix("sess-")
            got[key] = got.get(key, 0) + 1
        return got

    w.start_worker()  # the main queue: a reply that has to wait goes out from there
    first = w.start_worker("--queue", ANSWERS)
    consumer = f"{socket.gethostname()}-{first.pid}"
    w.wait_for_answering()
    post("绑定 司法局", "k-bind")

    def burst() -> None:
        for i, msg_id in enumerate(ids):
            post(f"说明 12 第{i}次说明" if i % 4 == 0 else texts[i % 3], msg_id)
            time.sleep(0.004)

    sender = threading.Thread(target=burst)
    sender.start()
    w.wait_until(lambda: len(replies()) >= 40, 30, "the burst being answered")
    w.kill(first)  # SIGKILL, no finally runs
    # in the middle: it had read callbacks it never acknowledged, and more were still coming
    [left] = [c for c in w.client.xinfo_consumers(w.store.keys.inbox, "answer")
              if c["name"].decode() == consumer]  # fmt: skip
    assert left["pending"] > 0 and sender.is_alive()
    second = w.start_worker("--queue", ANSWERS)
    sender.join()
    assert sorted(acked) == sorted(["k-bind", *ids])

    def uncertain() -> set[str]:
        """Replies the killed process was posting at the moment it died: whether the request
        left before the kill cannot be known, so they are never posted again but shown to the
        office as dead letters of status "uncertain" (bot/delivery.py). The kill falls there
        in about one run in ten."""
        return {
            d["spec"]["session_url"].rpartition("sess-")[2]
            for d in w.store.delivery.dead_letters()
            if d["status"] == "uncertain"
        }

    deadline = time.monotonic() + 60
    while set(acked) - set(replies()) - uncertain() and time.monotonic() < deadline:
        time.sleep(0.25)
    time.sleep(2.0)  # nothing more may arrive
    got, caught = replies(), uncertain()
    assert not {k: c for k, c in got.items() if c != 1}, "a command answered twice"
    assert set(acked) - set(got) <= caught, (set(acked) - set(got), w.store.delivery.dead_letters())
    assert len(caught) <= 1  # one process killed once: at most the one post it was making
    assert set(got) <= set(acked)
    # an entry whose reply went out before the kill is acknowledged once it is taken over
    w.wait_until(lambda: w.store.inbox.backlog() == 0, 30, "every entry taken over and done")
    assert got == replies()  # taking it over posted nothing again
    # Every 说明 ran once, but one the killed process had claimed and not finished: its change
    # is saved with its reply or not at all, and the next process does not run it blind but
    # says so (texts.INTERRUPTED), asking the user to check and send it again.
    sent = stub.requests_to(DINGTALK_SESSION)  # (a post cut off mid-body is not among them)
    texts_of = {r.key.removeprefix("sess-"): content(r) for r in sent}
    interrupted = {m for m, t in texts_of.items() if "处理时中断" in t}
    assert len(interrupted) <= 1
    explained = [e for e in w.store.audit.entries(count=500) if e.action == "explain"]
    assert len(explained) == len(set(ids[::4]) - interrupted)
    ran = (set(ids[::4]) - interrupted) & set(texts_of)  # (an uncertain reply has no text here)
    assert all("第12项的报送说明" in texts_of[m] for m in ran)
    # the killed consumer was removed from the group once its entries were taken over
    names = [c["name"].decode() for c in w.client.xinfo_consumers(w.store.keys.inbox, "answer")]
    assert consumer not in names
    second.send_signal(signal.SIGTERM)
    assert second.wait(10) == 0
