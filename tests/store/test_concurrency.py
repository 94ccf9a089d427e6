"""Concurrent commands on one assignment: compare-and-set keeps every change and each exactly once."""

from __future__ import annotations

import threading

from bot.messages import Incoming
from bot.progress import Status
from bot.runtime import build_runtime
from tests.store.conftest import new_client


def _runtimes(settings, clock, n):
    # Separate runtimes with separate connections, like two web workers.
    return [build_runtime(settings, clock=clock, client=new_client(settings)) for _ in range(n)]


def _race(runtimes, messages):
    barrier = threading.Barrier(len(messages))
    replies = [None] * len(messages)

    def run(i):
        barrier.wait()
        replies[i] = runtimes[i].dispatcher.handle(messages[i]).text

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(messages))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return replies


def _msg(user, text, n):
    return Incoming("console", user, text, mentioned=True, message_id=f"{user}-{n}")


def test_two_concurrent_done_one_wins(rt, settings, clock):
    rts = _runtimes(settings, clock, 2)
    for i, user in enumerate(("a", "b")):
        rts[i].dispatcher.handle(_msg(user, "绑定 司法局", 0))
    rt.dispatcher.handle(_msg("a", "说明 12 已完成双随机抽查", 1))
    for rnd in range(15):
        if rnd:
            rt.dispatcher.handle(_msg("a", "撤销 12", 100 + rnd))
        assert rt.store.assignments.get(12, "司法局")[0].status is Status.IN_PROGRESS
        before = len([e for e in rt.store.audit.entries(count=1000) if e.action == "done"])
        replies = _race(rts, [_msg("a", "完成 12", 200 + rnd), _msg("b", "完成 12", 300 + rnd)])
        assert sum("已标记完成" in r for r in replies) == 1, replies
        assert sum("无需重复标记" in r for r in replies) == 1, replies
        after = len([e for e in rt.store.audit.entries(count=1000) if e.action == "done"])
        assert after - before == 1
        assert rt.store.assignments.get(12, "司法局")[0].status is Status.DONE
    for r in rts:
        r.redis.close()


def test_concurrent_submits_lose_nothing(rt, settings, clock):
    rts = _runtimes(settings, clock, 3)
    users = ("a", "b", "c")
    for i, user in enumerate(users):
        rts[i].dispatcher.handle(_msg(user, "绑定 司法局", 0))
    for rnd in range(10):
        msgs = [_msg(u, f"提交 12 https://x.cn/{u}/{rnd}", rnd + 1) for u in users]
        replies = _race(rts, msgs)
        assert all("已收到第12项的 1 个链接" in r for r in replies), replies
    a, _ = rt.store.assignments.get(12, "司法局")
    assert sorted(m.url for m in a.materials) == sorted(
        f"https://x.cn/{u}/{rnd}" for u in users for rnd in range(10)
    )
    assert len([e for e in rt.store.audit.entries(count=1000) if e.action == "submit"]) == 30
    for r in rts:
        r.redis.close()


def _start_together(settings, clock, n: int) -> tuple[list, list[BaseException]]:
    """`n` runtimes built at the same moment, each on its own connection (like processes)."""
    barrier = threading.Barrier(n)
    built: list = []
    errors: list[BaseException] = []

    def start():
        client = new_client(settings)
        barrier.wait()
        try:
            built.append(build_runtime(settings, clock=clock, client=client))
        except BaseException as e:  # noqa: BLE001 - the test reports what a start raised
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return built, errors


def test_processes_starting_together_on_an_empty_store_all_start(settings, redis_client, clock):
    """make run starts the web workers, both RQ workers and the scheduler at once; each binds
    the members listed in org.yaml if nobody has. The one that loses a race must not crash.
    (A race: several rounds, so that one is lost in almost every run without the fix.)"""
    for _ in range(4):
        redis_client.flushdb()
        built, errors = _start_together(settings, clock, 8)
        assert errors == []
        rt = built[0]
        members = rt.org.members
        assert members  # the shipped org.yaml lists the sandbox's people
        for m in members:
            assert rt.store.bindings.get(m.platform, m.user_id).department == m.department
        bound = [e for e in rt.store.audit.entries(count=1000) if e.actor == "system:org.yaml"]
        assert len(bound) == len(members)  # each bound once, by whichever process came first
