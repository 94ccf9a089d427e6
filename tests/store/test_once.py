"""Platform callbacks through Dispatcher.handle_once: claimed with the first round trip, the reply
stored with the last, two round trips for every command, and a redelivery changes nothing."""

from __future__ import annotations

import threading

import pytest
import redis

from bot.messages import Incoming, Notice, Reply
from bot.progress import Status
from bot.runtime import build_runtime
from tests.outbox import queue_notices
from tests.store.conftest import CLUSTER

GROUP, DEBOUNCE = "drain-test", 60_000
# round trips are counted on one connection's sends: a cluster client has one per node
pytestmark = pytest.mark.skipif(CLUSTER, reason="counts the sends of one connection")


class Counted:
    """A client that counts packed sends to Redis (a pipeline or a script is one round trip)."""

    def __init__(self, url: str):
        self.n = 0
        outer = self
        base = redis.Redis.from_url(url).connection_pool.connection_class

        class Counting(base):
            def send_packed_command(self, command, check_health=True):
                outer.n += 1
                return super().send_packed_command(command, check_health)

        self.client = redis.Redis.from_url(url, connection_class=Counting)


@pytest.fixture
def crt(settings, redis_client, clock):
    counted = Counted(settings.redis_url)
    runtime = build_runtime(settings, clock=clock, client=counted.client)  # loads the scripts
    runtime.counted = counted
    yield runtime
    counted.client.close()


_n = iter(range(10**6))


def once(rt, text: str, user: str = "u-sfj", msg_id: str | None = None, admin: bool = False):
    msg = Incoming(
        "dingtalk", user, text, "cid", True, True, msg_id or f"m{next(_n)}", is_admin=admin
    )
    before = rt.counted.n
    out = rt.dispatcher.handle_once(msg, GROUP, DEBOUNCE)
    return out, rt.counted.n - before


@pytest.fixture
def bound(crt):
    out, _ = once(crt, "绑定 司法局")
    assert "司法局" in out.reply.text
    return crt


@pytest.mark.parametrize(
    "text,trips",
    [("我的任务", 2), ("我的任务 全部", 2), ("提交 12 https://www.jinfeng.gov.cn/a.html 双随机清单", 2),
     ("说明 12 见附件", 2), ("完成 4", 2), ("帮助", 2), ("不存在的命令", 2),
     ("提交 999 https://a.cn/x", 2), ("通过 12 司法局", 2),
     # this one also reads the other departments' state: one more
     ("查看 12", 3)],
)  # fmt: skip
def test_every_callback_takes_two_round_trips(bound, text, trips):
    out, n = once(bound, text)
    assert out.reply is not None and out.reply.text
    assert n == trips, (text, n)


def test_progress_reads_only_the_status_changes_since_the_last_read(bound):
    """进度 ranks every department: a process reads the whole status hash once (a round trip
    more), then only the changes logged since (its three round trips: claim and binding, the
    changes with the ranking's other inputs, the reply), never the whole hash again."""

    def hgetalls() -> int:  # scripts' inner calls included
        return bound.redis.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0)

    before = hgetalls()
    first, n = once(bound, "进度")
    whole = hgetalls() - before
    assert "全区排名" in first.reply.text and n == 4
    assert "第4项" in once(bound, "说明 4 见附件")[0].reply.text
    assert "已标记完成" in once(bound, "完成 4")[0].reply.text
    before = hgetalls()
    again, n = once(bound, "进度")
    assert n == 3 and hgetalls() - before == whole - 1  # the status hash is not read
    assert again.reply.text != first.reply.text  # 完成 4 is counted


def test_a_redelivery_gets_the_stored_reply_in_one_round_trip_and_changes_nothing(bound):
    first, _ = once(bound, "提交 12 https://www.jinfeng.gov.cn/a.html 清单", msg_id="dup-1")
    assert "已收到" in first.reply.text or "第12项" in first.reply.text
    audit = bound.store.audit.length()
    again, trips = once(bound, "提交 12 https://www.jinfeng.gov.cn/a.html 清单", msg_id="dup-1")
    assert again.reply is None and trips == 1
    assert Reply.from_json(again.duplicate) == first.reply
    assert bound.store.audit.length() == audit
    a, _ = bound.store.assignments.get(12, "司法局")
    assert [m.url for m in a.materials] == ["https://www.jinfeng.gov.cn/a.html"]


def test_a_command_without_preload_is_claimed_too(bound):
    first, _ = once(bound, "帮助", msg_id="dup-2")
    again, _ = once(bound, "帮助", msg_id="dup-2")
    assert again.reply is None and Reply.from_json(again.duplicate) == first.reply


def test_three_copies_at_once_run_the_command_once(settings, redis_client, clock):
    rts = [build_runtime(settings, clock=clock) for _ in range(3)]
    rts[0].dispatcher.handle(Incoming("dingtalk", "u-sfj", "绑定 司法局", mentioned=True))
    msg = Incoming("dingtalk", "u-sfj", "说明 12 三份同时到", "cid", True, True, "tri-1")
    barrier = threading.Barrier(3)
    outs = [None] * 3

    def go(i):
        barrier.wait()
        outs[i] = rts[i].dispatcher.handle_once(msg, GROUP, DEBOUNCE)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for o in outs if o.reply is not None) == 1
    entries = [e for e in rts[0].store.audit.entries(count=50) if e.action == "explain"]
    assert len(entries) == 1
    for r in rts:
        r.redis.close()


def test_the_reply_is_stored_with_the_change(bound):
    out, _ = once(bound, "说明 12 见附件", msg_id="same-step")
    stored = bound.store.inbox.claim("dingtalk", "same-step")[1]
    assert Reply.from_json(stored) == out.reply
    a, _ = bound.store.assignments.get(12, "司法局")
    assert a.explanation == "见附件" and a.status is Status.IN_PROGRESS


def test_drain_is_requested_once_per_debounce_when_notices_wait(bound):
    bound.store.outbox.ensure_group(GROUP)
    bound.store.r.xgroup_setid(bound.store.keys.outbox, GROUP, "$")  # the binding's notice: read
    bound.store.outbox.clear_drain_request()
    out, _ = once(bound, "我的任务")
    assert out.drain is False  # nothing unread
    queue_notices(bound.store, [Notice("有新通知", "司法局")])
    out, _ = once(bound, "我的任务")
    assert out.drain is True
    out, _ = once(bound, "说明 12 见附件")  # a change, still within the debounce window
    assert out.drain is False
    bound.store.outbox.clear_drain_request()
    out, _ = once(bound, "退回 12 司法局 缺台账", user="office", admin=True)
    assert out.drain is True  # the review notice, written with the change, asks for a drain


def test_my_tasks_reads_statuses_without_materials(bound):
    once(bound, "提交 12 https://www.jinfeng.gov.cn/a.html 清单")
    once(bound, "退回 12 司法局 缺少2019年台账", user="office", admin=True)
    once(bound, "说明 4 已公布证明事项清单")
    assert "已标记完成" in once(bound, "完成 4")[0].reply.text
    pre = bound.store.assignments.preload("dingtalk", "u-sfj", None, "states")
    assert not pre.assignments
    assert pre.states[12].status is Status.RETURNED and pre.states[12].reason == "缺少2019年台账"
    assert pre.states[4].status is Status.DONE and pre.states[4].is_complete
    mine = {ind for (ind, dept) in bound.assignments if dept == "司法局"}
    assert set(pre.states) == mine
    text = once(bound, "我的任务 全部")[0].reply.text
    assert "退回原因：缺少2019年台账" in text and "已完成 1 项" in text


def test_a_store_from_before_the_department_status_hash_gets_it_on_start(bound):
    once(bound, "说明 4 已公布证明事项清单")
    once(bound, "完成 4")
    store = bound.store
    for key in store.r.scan_iter(store.keys.dept_states_prefix + "*"):
        store.r.delete(key)
    assert store.assignments.preload("dingtalk", "u-sfj", None, "states").states == {}
    store.assignments.sync(bound.assignments)
    states = store.assignments.preload("dingtalk", "u-sfj", None, "states").states
    assert states[4].status is Status.DONE and states[12].status is Status.TODO


MULTI = "提交 16 https://www.jinfeng.gov.cn/a.html 方案\n完成 16"


def test_a_message_of_two_commands_runs_each_once_and_a_redelivery_gets_the_same_reply(bound):
    first, trips = once(bound, MULTI, msg_id="multi-1")
    assert "已收到第16项的 1 个链接" in first.reply.text
    assert "第16项已标记完成" in first.reply.text
    # the message claimed, each command as a callback of its own (2 each), the combined reply
    assert trips == 6
    audit = bound.store.audit.length()
    again, trips = once(bound, MULTI, msg_id="multi-1")
    assert again.reply is None and trips == 1
    assert Reply.from_json(again.duplicate) == first.reply
    assert bound.store.audit.length() == audit
    a, _ = bound.store.assignments.get(16, "司法局")
    assert a.status is Status.DONE and len(a.materials) == 1


def test_a_worker_taking_over_a_message_runs_only_the_commands_not_yet_run(bound):
    text = "说明 16 已整理\n完成 16\n说明 12 见附件"
    msg = Incoming("dingtalk", "u-sfj", text, "cid", True, True, "multi-2")
    # The first run claimed the message, ran its first command, and died.
    assert bound.store.inbox.claim("dingtalk", "multi-2")[0]
    piece = bound.dispatcher.split(text)[0]
    done = bound.dispatcher.handle_once(
        Incoming("dingtalk", "u-sfj", piece, "cid", True, True, "multi-2#1"), GROUP, DEBOUNCE
    )
    # A copy arriving while the first run may still be going waits for its reply ...
    out = bound.dispatcher.handle_once(msg, GROUP, DEBOUNCE)
    assert out.reply is None and out.duplicate == ""
    # ... a worker taking over the message runs the rest.
    out = bound.dispatcher.handle_once(msg, GROUP, DEBOUNCE, resume=True)
    assert out.reply.text.startswith(done.reply.text)
    assert "第16项已标记完成" in out.reply.text and "已保存第12项的报送说明" in out.reply.text
    actions = [e.action for e in bound.store.audit.entries(count=20)]
    assert actions.count("explain") == 2 and actions.count("done") == 1
    again = bound.dispatcher.handle_once(msg, GROUP, DEBOUNCE, resume=True)
    assert Reply.from_json(again.duplicate) == out.reply
    assert [e.action for e in bound.store.audit.entries(count=20)] == actions


@pytest.mark.parametrize("text", ["完成 12 \ud800", "帮助 \ud800", "说明 12 \ud800"])
def test_a_callback_with_a_character_no_file_can_hold_is_answered_once(bound, text):
    out, _ = once(bound, text, msg_id=f"bad-{text[:2]}")
    assert "无法保存的特殊字符（U+D800）" in out.reply.text
    again, _ = once(bound, text, msg_id=f"bad-{text[:2]}")
    assert Reply.from_json(again.duplicate) == out.reply
