"""DingTalk callbacks answered from a worker (the default, DUBAN_DINGTALK_REPLY=queue): the
callback is verified, parsed and queued in one round trip with an empty body back; a real RQ
worker (SimpleWorker, in this process) runs the command and posts the reply to the callback's
sessionWebhook on the stub platform. Redeliveries queue nothing and post nothing twice."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest
import redis

from bot import delivery, inbox
from bot.messages import Notice
from bot.queue import ANSWERS, KINDS, make_queue
from bot.render import strip_part_prefix
from bot.store.scripts import source
from tests.http.callbacks import ding_payload, ding_post
from tests.http.conftest import work
from tests.stubs.platform_server import DINGTALK_SESSION


@pytest.fixture
def dingtalk_reply():
    return "queue"


def jobs(rt) -> list[str]:
    """Queued jobs on every queue, answers first."""
    kinds = (ANSWERS, *(k for k in KINDS if k != ANSWERS))
    queues = [make_queue(rt.redis, rt.settings.key_prefix, kind) for kind in kinds]
    return [j.func_name for q in queues for j in q.jobs]


def post(client, stub, text: str, msg_id: str, **kw):
    resp = ding_post(client, ding_payload(text, msg_id, oapi_base=stub.url, **kw))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return json.loads(resp.get_data())


def replies(stub, msg_id: str) -> list[str]:
    sent = stub.requests_to(DINGTALK_SESSION, key=f"sess-{msg_id}")
    return [
        r.json["markdown"]["text"] if r.json["msgtype"] == "markdown" else r.json["text"]["content"]
        for r in sent
    ]


def test_the_callback_is_acknowledged_at_once_and_answered_by_the_worker(
    hook_client, hook_rt, stub
):
    audit = hook_rt.store.audit.length()
    assert post(hook_client, stub, "绑定 司法局", "q-bind") == {"msgtype": "empty"}
    # nothing ran yet: the message waits in the inbox for the answering consumer, no job
    assert hook_rt.store.audit.length() == audit
    assert hook_rt.store.inbox.backlog() == 1
    assert jobs(hook_rt) == []
    work(hook_rt)
    assert hook_rt.store.bindings.get("dingtalk", "staff001").department == "司法局"
    assert hook_rt.store.inbox.backlog() == 0
    [text] = replies(stub, "q-bind")
    assert "已绑定到" in text and "司法局" in text


def test_a_burst_enqueues_no_job_and_every_message_is_answered(hook_client, hook_rt, stub):
    post(hook_client, stub, "绑定 司法局", "q-b0")
    texts = ["我的任务", "说明 12 双随机抽查已完成", "查看 12", "帮助"]
    for i, text in enumerate(texts):
        assert post(hook_client, stub, text, f"q-b{i + 1}") == {"msgtype": "empty"}
    assert jobs(hook_rt) == [] and hook_rt.store.inbox.backlog() == 5
    work(hook_rt)
    assert "已绑定到" in replies(stub, "q-b0")[0]
    assert "司法局 · 共" in replies(stub, "q-b1")[0]
    assert "第12项" in replies(stub, "q-b2")[0]
    a, _ = hook_rt.store.assignments.get(12, "司法局")
    assert a.explanation == "双随机抽查已完成"
    assert replies(stub, "q-b3") and replies(stub, "q-b4")


def test_redeliveries_queue_nothing_and_post_nothing_twice(hook_client, hook_rt, stub):
    post(hook_client, stub, "绑定 司法局", "q-d0")
    work(hook_rt)
    barrier = threading.Barrier(3)
    outs = []

    def send():
        barrier.wait()
        outs.append(post(hook_client, stub, "说明 12 三份同时到", "q-dup"))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outs == [{"msgtype": "empty"}] * 3
    assert hook_rt.store.inbox.backlog() == 1
    work(hook_rt)
    post(hook_client, stub, "说明 12 三份同时到", "q-dup")  # a late copy after the answer
    work(hook_rt)
    assert len(replies(stub, "q-dup")) == 1
    assert [e.action for e in hook_rt.store.audit.entries(count=20)].count("explain") == 1


def test_a_drainer_that_died_after_the_change_posts_the_stored_reply_once(
    hook_client, hook_rt, stub
):
    # A drainer read the entry and ran the command, then died before posting and acking.
    entry_id, msg = read_by_a_dead_drainer(hook_client, hook_rt, stub, "说明 12 第一次", "q-crash")
    first = hook_rt.dispatcher.handle_once(msg)
    assert "第12项" in first.reply.text
    audit = hook_rt.store.audit.length()
    counts = inbox.drain_inbox(hook_rt, _delivery(hook_rt), "next-worker")
    assert not any(counts.values())  # the entry is not idle long enough to be taken over
    hook_rt.redis.xclaim(hook_rt.store.keys.inbox, inbox.GROUP, "dead-worker", 0, [entry_id])
    counts = _drain_reclaiming(hook_rt)
    assert counts["replayed"] == 1 and hook_rt.store.audit.length() == audit  # not run twice
    assert counts["sent"] == 1
    assert replies(stub, "q-crash") == [first.reply.text]
    assert hook_rt.store.inbox.backlog() == 0


def test_a_long_reply_arrives_complete_in_parts(hook_client, hook_rt, stub):
    post(hook_client, stub, "绑定 司法局", "q-l0")
    urls = " ".join(f"https://www.example.gov.cn/{'a' * 300}/{i}.html" for i in range(50))
    post(hook_client, stub, f"提交 4 {urls}", "q-l1")
    post(hook_client, stub, "查看 4 全部", "q-long")
    work(hook_rt)
    parts = replies(stub, "q-long")
    n = len(parts)
    assert n >= 2 and [p.split("\n")[0] for p in parts] == [f"({i}/{n})" for i in range(1, n + 1)]
    whole = "\n\n".join(strip_part_prefix(p) for p in parts)
    assert all(f"/{i}.html" in whole for i in range(50))


def test_without_a_usable_session_the_reply_stays_in_the_body(hook_client, hook_rt, stub):
    post(hook_client, stub, "绑定 司法局", "q-s0")
    work(hook_rt)
    body = post(hook_client, stub, "我的任务", "q-expired", session_ms=-1000)
    assert body["msgtype"] == "markdown" and "司法局 · 共" in body["markdown"]["text"]
    assert hook_rt.store.inbox.backlog() == 0


def test_a_malformed_inbox_entry_is_dropped_and_the_rest_answered(hook_client, hook_rt, stub):
    hook_rt.redis.xadd(hook_rt.store.keys.inbox, {"msg": "{not json"})
    post(hook_client, stub, "帮助", "q-m1")
    counts = _drain_reclaiming(hook_rt)
    assert counts["bad"] == 1 and counts["answered"] == 1
    assert replies(stub, "q-m1") and hook_rt.store.inbox.backlog() == 0


def read_by_a_dead_drainer(client, rt, stub, text: str, msg_id: str):
    """Bind, then queue `text` and have a drainer named dead-worker read it (and never ack)."""
    post(client, stub, "绑定 司法局", f"{msg_id}-bind")
    work(rt)
    post(client, stub, text, msg_id)
    [(entry_id, raw)] = rt.store.inbox.read(inbox.GROUP, "dead-worker", 10)
    return entry_id, inbox.parse_payload(raw)[0]


def _delivery(rt):
    return rt.delivery


def _drain_reclaiming(rt) -> dict:
    """A drain that takes over entries left by a dead drainer at once (no idle time needed)."""
    original = inbox.RECLAIM_MS
    inbox.RECLAIM_MS = 0
    try:
        return inbox.drain_inbox(rt, _delivery(rt), "next-worker")
    finally:
        inbox.RECLAIM_MS = original


def next_drain_submits_once(rt, stub, msg_id: str, url: str) -> None:
    """The next drain runs the left 提交 of `url` to item 12: one reply, the link saved once."""
    counts = _drain_reclaiming(rt)
    assert counts["answered"] == 1 and counts["sent"] == 1
    [text] = replies(stub, msg_id)
    assert "已收到第12项的 1 个链接" in text
    a, _ = rt.store.assignments.get(12, "司法局")
    assert [m.url for m in a.materials] == [url]
    assert rt.store.inbox.backlog() == 0


def test_replies_in_one_chat_are_not_held_to_a_robot_push_budget(hook_client, hook_rt, stub):
    assert hook_rt.settings.robot_per_minute == 20
    post(hook_client, stub, "绑定 司法局", "q-r0")
    for i in range(1, 30):
        post(hook_client, stub, "帮助", f"q-r{i}")
    work(hook_rt)
    assert all(len(replies(stub, f"q-r{i}")) == 1 for i in range(30))
    assert not jobs(hook_rt)  # nothing deferred


def test_a_run_that_died_before_its_reply_is_not_repeated_and_the_user_is_told(
    hook_client, hook_rt, stub
):
    # A drainer read the entry and claimed the message, ran 报送 (committed with its claim held),
    # then died before its reply was stored.
    _, msg = read_by_a_dead_drainer(hook_client, hook_rt, stub, "报送 确认", "q-interrupted")
    hook_rt.store.assignments.preload(msg.platform, msg.user_id, None, "none", claim=msg.message_id)
    hook_rt.store.submissions.submit(
        "司法局", "dingtalk:staff001", Notice("📮 报送", ""), claim=(msg.platform, msg.message_id)
    )
    audit = hook_rt.store.audit.length()
    counts = _drain_reclaiming(hook_rt)
    assert counts["lost"] == 1 and counts["sent"] == 1
    assert hook_rt.store.audit.length() == audit  # 报送 was not run a second time, blind
    [text] = replies(stub, "q-interrupted")
    assert "「报送 确认」处理时中断" in text and "再发一次" in text


def test_a_run_that_died_having_committed_nothing_is_run_once_its_claim_has_gone(
    hook_client, hook_rt, stub
):
    """The dead drainer claimed the message and died before any write: the claim is not held,
    so the entry waits in the inbox until the claim's short expiry, then runs once."""
    hook_rt.store.claim_ttl_s = 1
    text = "提交 12 https://www.example.gov.cn/dead.html 方案"
    _, msg = read_by_a_dead_drainer(hook_client, hook_rt, stub, text, "q-dead")
    hook_rt.store.assignments.preload(msg.platform, msg.user_id, 12, "one", claim=msg.message_id)
    counts = _drain_reclaiming(hook_rt)
    assert counts["unfinished"] == 1 and counts["lost"] == 0 and not replies(stub, "q-dead")
    time.sleep(1.5)
    next_drain_submits_once(hook_rt, stub, "q-dead", "https://www.example.gov.cn/dead.html")


def test_a_message_of_several_commands_left_by_a_dead_drainer_runs_each_command_once(
    hook_client, hook_rt, stub
):
    from bot.messages import Incoming

    text = "说明 16 已整理\n完成 16"
    _, msg = read_by_a_dead_drainer(hook_client, hook_rt, stub, text, "q-multi")
    # The dead drainer claimed the message and ran its first command.
    hook_rt.store.inbox.claim(msg.platform, msg.message_id)
    piece = Incoming(**{**msg.__dict__, "text": "说明 16 已整理", "message_id": "q-multi#1"})
    hook_rt.dispatcher.handle_once(piece)
    counts = _drain_reclaiming(hook_rt)
    assert counts["answered"] == 1 and counts["sent"] == 1
    [reply] = replies(stub, "q-multi")
    assert "已保存第16项的报送说明" in reply and "第16项已标记完成" in reply
    actions = [e.action for e in hook_rt.store.audit.entries(count=20)]
    assert actions.count("explain") == 1 and actions.count("done") == 1


def test_a_lone_surrogate_is_replaced_once_and_the_message_answered(hook_client, hook_rt, stub):
    """A JSON escape "\\ud800" decodes to a code point UTF-8 cannot carry: the parser replaces
    it, so the callback is queued (not a 500 the platform retries forever) and answered."""
    post(hook_client, stub, "绑定 司法局", "q-u0")
    body = json.dumps(ding_payload("说明 12 第一段SURR第二段", "q-u1", oapi_base=stub.url))
    body = body.replace("SURR", "\\ud800").replace('"\\u5f20\\u4e09"', '"\\udc00\\u5f20"')
    body = body.encode()
    for _ in range(2):  # the platform's retry of the same message changes nothing
        resp = ding_post(hook_client, body)
        assert resp.status_code == 200 and json.loads(resp.get_data()) == {"msgtype": "empty"}
    work(hook_rt)
    a, _ = hook_rt.store.assignments.get(12, "司法局")
    assert a.explanation == "第一段\ufffd第二段"
    [text] = replies(stub, "q-u1")
    assert "第12项" in text
    assert hook_rt.store.inbox.backlog() == 0


def test_a_save_that_failed_in_the_worker_is_answered_by_the_next_drain(hook_client, hook_rt, stub):
    """Redis fails at the save after the worker claimed the message: the entry stays in the
    inbox, and the next drain runs the command once and posts its reply once."""
    from tests.http.test_hooks_wecom import flaky_store

    post(hook_client, stub, "绑定 司法局", "q-f0")
    work(hook_rt)
    post(hook_client, stub, "提交 12 https://www.example.gov.cn/a.html 方案", "q-f1")
    post(hook_client, stub, "帮助", "q-f2")
    flaky = flaky_store(hook_rt)
    hook_rt.store = hook_rt.dispatcher.store = flaky
    counts = inbox.drain_inbox(hook_rt, _delivery(hook_rt), "w1")
    assert counts["unfinished"] == 1 and counts["answered"] == 1  # 帮助 was not held back
    assert replies(stub, "q-f1") == [] and hook_rt.store.inbox.backlog() == 1
    next_drain_submits_once(hook_rt, stub, "q-f1", "https://www.example.gov.cn/a.html")


def test_a_killed_consumers_uncommitted_claim_does_not_hold_its_command_back(
    hook_client, hook_rt, stub, monkeypatch
):
    """A consumer killed after claiming a message and before committing it: the consumer that
    takes its entries over (its liveness mark gone) releases that claim and runs the command at
    once, instead of leaving the user waiting for the claim to expire (CLAIM_TTL_S)."""
    text = "提交 12 https://www.example.gov.cn/killed.html 方案"
    _, msg = read_by_a_dead_drainer(hook_client, hook_rt, stub, text, "q-killed")
    hook_rt.store.assignments.preload(msg.platform, msg.user_id, 12, "one", claim=msg.message_id)
    assert not hook_rt.store.inbox.claim_committed(msg.platform, msg.message_id)
    monkeypatch.setattr(inbox, "ALIVE_MS", 50)
    time.sleep(0.1)  # dead-worker has no liveness mark and has not read for ALIVE_MS
    counts = inbox.drain_inbox(hook_rt, _delivery(hook_rt), "next-worker")
    assert counts["unfinished"] == 0 and counts["answered"] == 1 and counts["sent"] == 1
    [reply] = replies(stub, "q-killed")
    assert "已收到第12项的 1 个链接" in reply
    a, _ = hook_rt.store.assignments.get(12, "司法局")
    assert [m.url for m in a.materials] == ["https://www.example.gov.cn/killed.html"]
    assert hook_rt.store.inbox.backlog() == 0


def test_a_consumer_that_is_gone_leaves_its_entries_to_the_next_at_once(
    hook_client, hook_rt, stub, monkeypatch
):
    """Killed consumers keep no liveness mark: another one takes all their entries as soon as
    they have not read for ALIVE_MS, without waiting RECLAIM_MS, and removes them from the
    group. A consumer whose mark is set keeps its entries however long it works on them."""
    post(hook_client, stub, "绑定 司法局", "q-g0")
    work(hook_rt)
    post(hook_client, stub, "帮助", "q-gone")
    post(hook_client, stub, "我的任务", "q-busy")
    store = hook_rt.store
    [(_, gone)] = store.inbox.read(inbox.GROUP, "gone-worker", 1)
    [(_, busy)] = store.inbox.read(inbox.GROUP, "busy-worker", 1)
    assert "q-gone" in gone and "q-busy" in busy
    store.inbox.mark_consumer("busy-worker", 60_000)
    monkeypatch.setattr(inbox, "ALIVE_MS", 50)
    time.sleep(0.1)
    counts = inbox.drain_inbox(hook_rt, _delivery(hook_rt), "next-worker")
    assert counts["answered"] == 1 and counts["sent"] == 1
    assert replies(stub, "q-gone") and not replies(stub, "q-busy")
    names = {c["name"].decode() for c in hook_rt.redis.xinfo_consumers(store.keys.inbox, "answer")}
    assert "gone-worker" not in names and "busy-worker" in names
    assert store.inbox.backlog() == 1  # q-busy, still its consumer's


def test_the_answering_consumer_answers_while_it_waits_and_stops_when_asked(
    hook_client, hook_rt, stub
):
    """`consume` blocks on the stream and answers each callback as it comes, in this process,
    with one keep-alive connection to the platform for all the replies."""
    post(hook_client, stub, "绑定 司法局", "q-c0")
    stop = threading.Event()
    dctx = _delivery(hook_rt)
    result: dict = {}
    t = threading.Thread(
        target=lambda: result.update(inbox.consume(hook_rt, dctx, stop, "live-worker", 200))
    )
    t.start()
    try:
        for i in range(1, 6):
            post(hook_client, stub, "帮助", f"q-c{i}")
            deadline = time.monotonic() + 10
            while not replies(stub, f"q-c{i}") and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(replies(stub, f"q-c{i}")) == 1
        assert hook_rt.redis.exists(hook_rt.store.keys.inbox_consumer("live-worker"))
    finally:
        stop.set()
        t.join(5)
    assert not t.is_alive() and result["answered"] == 6 and result["sent"] == 6
    assert not hook_rt.redis.exists(hook_rt.store.keys.inbox_consumer("live-worker"))
    assert hook_rt.store.inbox.backlog() == 0
    assert dctx.http.connections_opened() == 1  # kept alive from the first reply to the last


def test_a_message_that_breaks_the_code_does_not_stop_the_others(hook_client, hook_rt, stub):
    """An entry whose message makes the command code raise is logged and left pending (tried
    again after RECLAIM_MS); the consumer lives on and answers the rest of the batch."""
    from bot.messages import Incoming

    post(hook_client, stub, "绑定 司法局", "q-p0")
    work(hook_rt)
    broken = Incoming(
        "dingtalk", "staff001", text=None, message_id="q-poison",  # no text: the code raises
        reply_url=f"{stub.url}/robot/sendBySession?session=sess-q-poison",
        reply_url_expires_ms=2**62,
    )  # fmt: skip
    hook_rt.redis.xadd(hook_rt.store.keys.inbox, {"msg": inbox.payload(broken)})
    post(hook_client, stub, "帮助", "q-p1")
    counts = inbox.drain_inbox(hook_rt, _delivery(hook_rt), "w-poison")
    assert counts["failed"] == 1 and counts["answered"] == 1
    assert replies(stub, "q-p1") and not replies(stub, "q-poison")
    assert hook_rt.store.inbox.backlog() == 1  # the broken one, still pending


def test_a_save_and_release_refused_are_answered_within_seconds_once_redis_writes_again(
    hook_client, hook_rt, stub
):
    """A full disk refuses the save and then the claim's release too (both are writes): the
    claim stays set (CLAIM_TTL_S) with nothing committed. Once Redis writes again, the live
    consumer retries its own entry within seconds, releases its own claim and runs the command
    once, instead of leaving the user waiting for RECLAIM_MS and the claim's expiry (minutes)."""
    import redis

    from bot.store.inbox import Inbox
    from tests.http.test_hooks_wecom import flaky_store

    class DiskFullOnce(Inbox):
        releases = 0

        def release_claim(self, platform, message_id):
            self.releases += 1
            if self.releases == 1:
                raise redis.ConnectionError("MISCONF (injected): the release is a write too")
            return super().release_claim(platform, message_id)

    post(hook_client, stub, "绑定 司法局", "q-d0")
    work(hook_rt)
    flaky = flaky_store(hook_rt)  # the save fails once, then the release
    flaky.inbox = DiskFullOnce(flaky.r, flaky.keys, flaky.clock, scripts=flaky.scripts)
    hook_rt.store = hook_rt.dispatcher.store = flaky
    url = "https://www.example.gov.cn/disk.html"
    post(hook_client, stub, f"提交 12 {url} 方案", "q-d1")
    stop, result = threading.Event(), {}
    t = threading.Thread(
        target=lambda: result.update(inbox.consume(hook_rt, _delivery(hook_rt), stop, "w-d", 200))
    )
    started = time.monotonic()
    t.start()
    try:
        deadline = started + 20  # far below the claim's 120 s and RECLAIM_MS's 60 s
        while not replies(stub, "q-d1") and time.monotonic() < deadline:
            time.sleep(0.05)
        answered_s = time.monotonic() - started
        time.sleep(0.5)  # nothing more may come
    finally:
        stop.set()
        t.join(10)
    assert flaky.inbox.releases >= 2  # the failed release, then the retry's own release
    [text] = replies(stub, "q-d1")
    assert "已收到第12项的 1 个链接" in text, answered_s
    a, _ = hook_rt.store.assignments.get(12, "司法局")
    assert [m.url for m in a.materials] == [url]
    assert result["unfinished"] == 1 and result["answered"] == 1 and result["sent"] == 1
    assert hook_rt.store.inbox.backlog() == 0


def test_a_reply_refused_once_gets_the_retries_left_not_a_full_set(hook_client, hook_rt, stub):
    """The answering consumer posts a reply itself; when that first attempt is refused (HTTP
    500) the reply continues as a push job. That job counts the attempt already made: it gets
    the retries left, so a reply is tried as often as any push, not once more."""
    dctx = _delivery(hook_rt)
    stub.fail_next(1, status=500, path=DINGTALK_SESSION)
    post(hook_client, stub, "帮助", "q-retry")
    inbox.drain_inbox(hook_rt, dctx, "worker-1")
    queue = dctx.queue_for("reply")
    [job_id] = queue.scheduled_job_registry.get_job_ids()
    job = queue.fetch_job(job_id)
    assert job.retries_left == len(dctx.backoff) - 1
    assert job.retry_intervals == dctx.backoff[1:]
    work(hook_rt)  # the job's own attempt, after the first backoff
    assert len(replies(stub, "q-retry")) == 1


def _answered_not_flushed(client, rt, stub, texts: list[str], prefix: str):
    """Bind, queue `texts`, and have consumer w-live read and answer them, with the batch's
    acknowledgement and "sent" marks left unwritten (they go with its next read)."""
    post(client, stub, "绑定 司法局", f"{prefix}-bind")
    work(rt)
    for i, text in enumerate(texts):
        post(client, stub, text, f"{prefix}-{i}")
    rows = rt.store.inbox.read(inbox.GROUP, "w-live", 10)
    unflushed = inbox.Unflushed()
    counts = inbox.new_counts()
    inbox._answer_batch(rt, _delivery(rt), rows, counts, None, set(), unflushed)
    assert counts["answered"] == len(texts) and counts["sent"] == len(texts)
    assert len(unflushed.acks) == len(texts) and len(unflushed.ends) == len(texts)
    assert rt.store.inbox.backlog() == len(texts)  # not yet acknowledged
    return unflushed


def test_a_batch_acknowledged_with_the_next_read_posts_each_reply_once(hook_client, hook_rt, stub):
    """The answering consumer writes a batch's acknowledgement and its replies' "sent" marks
    with its next read, in one round trip. When that write did not happen (Redis went away
    after the replies were posted), the same consumer writes them first when it reads again:
    each reply was posted once, none is marked uncertain, nothing is a dead letter."""
    texts = ["我的任务", "查看 12", "帮助"]
    unflushed = _answered_not_flushed(hook_client, hook_rt, stub, texts, "q-fl")
    counts = inbox.consume(
        hook_rt, _delivery(hook_rt), consumer="w-live", block_ms=None, unflushed=unflushed
    )
    assert not unflushed and hook_rt.store.inbox.backlog() == 0
    assert counts["answered"] == counts["replayed"] == 0  # nothing ran or was posted again
    for i in range(len(texts)):
        assert len(replies(stub, f"q-fl-{i}")) == 1
    assert hook_rt.store.delivery.dead_letters() == []


def test_a_consumer_that_dies_before_the_acknowledgement_has_no_reply_posted_twice(
    hook_client, hook_rt, stub, monkeypatch
):
    """A consumer killed after posting a batch's replies and before the round trip that
    acknowledges them and marks them sent: the consumer that takes its entries over finds the
    stored replies and the parts claimed by a run that is gone, so it posts none of them again
    (each is marked uncertain for the office to check, as for a kill in the middle of a POST)."""
    texts = ["我的任务", "帮助"]
    lost = _answered_not_flushed(hook_client, hook_rt, stub, texts, "q-dead")  # then killed
    monkeypatch.setattr(inbox, "ALIVE_MS", 50)
    keys = hook_rt.store.keys
    hook_rt.store.r.delete(keys.inbox_consumer("w-live"))
    for push_id, part, token, _ in lost.ends:  # the dead run's claims have run out meanwhile
        marker = keys.part_marker(push_id, part)
        assert hook_rt.store.r.get(marker).decode().startswith(f"sending:{token}:")
        hook_rt.store.r.set(marker, f"sending:{token}:1")
    time.sleep(0.1)
    counts = inbox.drain_inbox(hook_rt, _delivery(hook_rt), "w-next")
    assert counts["replayed"] == len(texts) and hook_rt.store.inbox.backlog() == 0
    for i in range(len(texts)):
        assert len(replies(stub, f"q-dead-{i}")) == 1
    assert {d["status"] for d in hook_rt.store.delivery.dead_letters()} == {"uncertain"}


def test_the_acknowledgement_and_marks_go_with_the_next_read_in_one_round_trip(
    hook_client, hook_rt, stub, monkeypatch
):
    """The read that carries a batch's acknowledgement and "sent" marks is one round trip (the
    marks' script queued as a plain EVALSHA: no SCRIPT EXISTS first). When Redis lost its
    scripts (a restart), that read fails once and loads the script; the next writes the marks
    and acknowledges: each reply posted once, none uncertain."""
    texts = ["我的任务", "帮助"]
    unflushed = _answered_not_flushed(hook_client, hook_rt, stub, texts, "q-rt")
    store = hook_rt.store
    sent: list[bytes] = []
    # every connection of the client's kind, its pool's and the store's own (bot/store/direct.py)
    kind = store.r.connection_pool.connection_class
    real = kind.send_packed_command

    def counting(self, command, *args, **kwargs):
        sent.append(b"".join(command) if isinstance(command, list) else command)
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(kind, "send_packed_command", counting)
    store.r.script_flush()
    with pytest.raises(redis.exceptions.NoScriptError):
        store.inbox.read(inbox.GROUP, "w-live", 10, None, unflushed)
    assert len(unflushed.ends) == len(texts)  # kept for the next read
    sent.clear()
    assert store.inbox.read(inbox.GROUP, "w-live", 10, None, unflushed) == []
    assert len(sent) == 1 and b"SCRIPT" not in sent[0]
    assert not unflushed and store.inbox.backlog() == 0
    for i in range(len(texts)):
        assert len(replies(stub, f"q-rt-{i}")) == 1
    assert store.delivery.dead_letters() == []


def _sent_commands(rt, monkeypatch) -> list[bytes]:
    """Every command written from now on, on every connection of the client's kind (its pool's
    and the store's own, bot/store/direct.py)."""
    sent: list[bytes] = []
    kind = rt.store.r.connection_pool.connection_class
    real = kind.send_packed_command

    def counting(self, command, *args, **kwargs):
        sent.append(b"".join(command) if isinstance(command, list) else command)
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(kind, "send_packed_command", counting)
    return sent


def test_a_fresh_reply_is_claimed_by_the_script_that_stores_it(
    hook_client, hook_rt, stub, monkeypatch
):
    """The answer's first part is claimed in the round trip that stores the reply (Begin), for
    a command that changed nothing and for one that saved a change: answering sends no
    push_begin of its own, and each reply is posted once and marked sent."""
    post(hook_client, stub, "绑定 司法局", "q-f0")
    work(hook_rt)
    push_begin = hashlib.sha1(source("push_begin").encode()).hexdigest().encode()
    sent = _sent_commands(hook_rt, monkeypatch)
    post(hook_client, stub, "我的任务", "q-f1")
    post(hook_client, stub, "说明 12 认领与保存同一步", "q-f2")
    work(hook_rt)
    assert sent and not [c for c in sent if push_begin in c]
    assert "司法局 · 共" in replies(stub, "q-f1")[0]
    assert len(replies(stub, "q-f2")) == 1 and "第12项" in replies(stub, "q-f2")[0]
    store = hook_rt.store
    for msg_id in ("q-f1", "q-f2"):
        marker = store.keys.part_marker(delivery.session_push_id("dingtalk", msg_id), 0)
        assert store.r.get(marker) == b"sent"
    # a redelivery finds the stored reply and its part sent: nothing is posted again
    post(hook_client, stub, "我的任务", "q-f1")
    work(hook_rt)
    assert len(replies(stub, "q-f1")) == 1


def test_a_reply_whose_chat_budget_is_spent_waits_for_it(hook_client, hook_rt, stub):
    """The claim taken with the finish finds the chat's reply budget spent. A short wait is
    slept through and the part claimed again; a long one leaves nothing marked, the reply
    stored, and a push job that posts it once the budget allows. Each reply goes out once."""
    post(hook_client, stub, "绑定 司法局", "q-w0")
    work(hook_rt)
    store, dctx = hook_rt.store, _delivery(hook_rt)
    route = delivery.session_route("https://x/s", 0, "cidGroup123==", "dingtalk")
    budget = store.keys.budget(route.robot)

    def spend(frees_in_ms: int) -> None:
        """Fill the chat's budget; its oldest slot frees after `frees_in_ms`."""
        sec, us = store.r.time()
        at = sec * 1000 + us // 1000 - dctx.window_ms + frees_in_ms
        store.r.delete(budget)
        store.r.zadd(budget, {f"slot-{i}": at for i in range(delivery.SESSION_PER_MINUTE)})

    spend(300)
    post(hook_client, stub, "我的任务", "q-w1")
    counts = inbox.drain_inbox(hook_rt, dctx, "w-budget")
    assert counts["sent"] == 1 and len(replies(stub, "q-w1")) == 1

    spend(30_000)
    post(hook_client, stub, "我的任务", "q-w2")
    counts = inbox.drain_inbox(hook_rt, dctx, "w-budget")
    assert counts["answered"] == 1 and counts["deferred"] == 1 and counts["sent"] == 0
    assert replies(stub, "q-w2") == []
    marker = store.keys.part_marker(delivery.session_push_id("dingtalk", "q-w2"), 0)
    assert store.r.get(marker) is None
    assert store.inbox.claim("dingtalk", "q-w2")[1]  # the reply is stored for redeliveries
    queue = dctx.queue_for("reply")
    [job_id] = queue.scheduled_job_registry.get_job_ids()
    store.r.delete(budget)  # the budget's minute has passed: the job is due
    job = queue.fetch_job(job_id)
    queue.scheduled_job_registry.remove(job)
    queue.enqueue_job(job)
    work(hook_rt)
    assert len(replies(stub, "q-w2")) == 1 and "司法局 · 共" in replies(stub, "q-w2")[0]
    assert store.r.get(marker) == b"sent"
