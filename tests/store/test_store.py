"""RedisStore on a real Redis: seeding, de-duplication, compare-and-set, prefixes, audit."""

from __future__ import annotations

import pytest

from bot.messages import Notice
from bot.progress import Assignment, Role, Status
from bot.records import Begin, Change, ConflictError, Finish, Finished
from bot.store import RedisStore
from tests.outbox import read_outbox


@pytest.fixture
def store(redis_client, clock):
    return RedisStore(redis_client, "s", clock)


def test_sync_assignments_creates_once_and_never_overwrites(store):
    pairs = {(1, "司法局"): Role.COOPERATE, (4, "司法局"): Role.LEAD}
    assert store.assignments.sync(pairs) == 2
    a, raw = store.assignments.get(4, "司法局")
    done = a.changed("x", "t", status=Status.DONE, explanation="e")
    store.assignments.save(Change(raw, done, "x", "done"))
    assert store.assignments.sync(pairs) == 0
    assert store.assignments.get(4, "司法局")[0].status is Status.DONE
    assert store.assignments.statuses()[(4, "司法局")] == (Role.LEAD, Status.DONE)


def test_save_refuses_a_stale_expected_value(store):
    store.assignments.sync({(4, "司法局"): Role.LEAD})
    a, raw = store.assignments.get(4, "司法局")
    store.assignments.save(Change(raw, a.changed("x", "t", explanation="one"), "x", "explain"))
    n = store.audit.length()
    with pytest.raises(ConflictError):
        store.assignments.save(Change(raw, a.changed("y", "t", explanation="two"), "y", "explain"))
    assert store.assignments.get(4, "司法局")[0].explanation == "one"
    assert store.audit.length() == n


def test_save_writes_notices_and_links_with_the_change(store):
    store.assignments.sync({(4, "司法局"): Role.LEAD})
    a, raw = store.assignments.get(4, "司法局")
    ch = Change(
        raw,
        a.changed("x", "t", status=Status.RETURNED, reason="r"),
        "x",
        "return",
        notices=(Notice("退回了", "司法局", ("u1", "u2"), "review"),),
        link_urls=("https://a.cn",),
    )
    store.assignments.save(ch)
    [(_, notice, at)] = read_outbox(store)
    assert notice == Notice("退回了", "司法局", ("u1", "u2"), "review") and at
    assert store.links.queued() == ["https://a.cn"]
    e = store.audit.entries(count=1)[0]
    assert (e.action, e.department, e.indicator, e.actor) == ("return", "司法局", 4, "x")
    assert Assignment.from_json(4, "司法局", e.after).reason == "r"


def test_claim_message_dedupes_and_returns_the_stored_reply(store):
    assert store.inbox.claim("dingtalk", "m1") == (True, "")
    assert store.inbox.claim("dingtalk", "m1") == (False, "")
    store.inbox.finish(Finish("dingtalk", "m1", "已收到"))
    assert store.inbox.claim("dingtalk", "m1") == (False, "已收到")
    assert store.inbox.claim("wecom", "m1") == (True, "")
    ttl = store.r.ttl(store.keys.seen("dingtalk", "m1"))
    assert 86000 < ttl <= 86400


def test_prefixes_isolate_two_stores(redis_client, clock):
    a, b = RedisStore(redis_client, "a", clock), RedisStore(redis_client, "b", clock)
    a.assignments.sync({(4, "司法局"): Role.LEAD})
    assert b.assignments.get(4, "司法局") == (None, "")
    assert all(k.startswith(b"a:") for k in redis_client.keys("*"))


def test_audit_filters_and_paging(store):
    store.assignments.sync({(i, "司法局"): Role.LEAD for i in range(1, 6)})
    for i in range(1, 6):
        a, raw = store.assignments.get(i, "司法局")
        store.assignments.save(Change(raw, a.changed("x", "t", explanation="e"), "x", "explain"))
    store.assignments.set_star(3, None, True, "boss")
    assert [e.indicator for e in store.audit.entries(count=3)] == [3, 5, 4]
    assert [e.action for e in store.audit.entries(action="star")] == ["star"]
    page1 = store.audit.entries(count=2)
    page2 = store.audit.entries(count=2, before_id=page1[-1].id)
    assert [e.indicator for e in page2] == [4, 3]
    assert len(store.audit.entries(department="司法局", count=100)) == 5


def test_statuses_are_parsed_once_per_process_while_the_hash_is_unchanged(store):
    """进度 and 排行 read the whole status hash: an unchanged hash gives the same read-only
    mapping and the same scores without parsing or counting again; any change gives new ones."""
    from bot.progress import compute_scores

    store.assignments.sync({(4, "司法局"): Role.LEAD, (1, "司法局"): Role.COOPERATE})
    first = store.assignments.ranking_inputs()[0]
    assert store.assignments.statuses() is first and store.assignments.ranking_inputs()[0] is first
    with pytest.raises(TypeError):
        first[(9, "司法局")] = (Role.LEAD, Status.DONE)  # shared: nobody may change it
    scores = compute_scores(first, set(), {})
    assert compute_scores(first, set(), {}) == scores
    assert scores[0].done_weight == 0 and scores[0].total_weight == 3
    assert compute_scores(first, {4}, {})[0].total_weight == 5  # other arguments: counted anew
    a, raw = store.assignments.get(4, "司法局")
    store.assignments.save(
        Change(raw, a.changed("x", "t", status=Status.DONE, explanation="e"), "x", "done")
    )
    after = store.assignments.ranking_inputs()[0]
    assert after is not first and after[(4, "司法局")] == (Role.LEAD, Status.DONE)
    assert compute_scores(after, set(), {})[0].done_weight == 2


def test_scores_updated_by_changes_equal_scores_counted_from_scratch(store):
    """A status hash changed in a few fields is parsed as the last mapping with those fields
    changed, and the scores are updated by the changes alone (bot.progress.derived): after each
    of many random changes (statuses, new and removed assignments, ★ sets, `only`), they equal
    a count from scratch of the same statuses."""
    import random

    from bot.progress import compute_scores

    rng = random.Random(5)
    depts = ["司法局", "教育局", "民政局", "财政局"]
    store.assignments.sync(
        {
            (i, d): (Role.LEAD if (i + len(d)) % 3 == 0 else Role.COOPERATE)
            for i in range(1, 30)
            for d in depts
        }  # fmt: skip
    )
    key = store.keys.statuses

    def set_status(field: str, value: str) -> None:
        # as the save script writes it: the hash and its change log ("" = the field is gone)
        store.r.hset(key, field, value) if value else store.r.hdel(key, field)
        store.r.xadd(store.keys.status_log, {"f": field, "v": value})

    fields = [f"{i}|{d}" for i in range(1, 30) for d in depts]
    states = [f"{r.value}:{s.value}" for r in Role for s in Status]
    only = frozenset(range(1, 25))
    previous = store.assignments.statuses()
    derived_updates = 0
    for step in range(120):
        for _ in range(rng.choice((1, 1, 2, 5))):
            f = rng.choice(fields)
            if rng.random() < 0.1:
                set_status(f, "")
            else:
                set_status(f, rng.choice(states))
        if step % 17 == 0:
            set_status(f"99|新部门{step}", states[0])  # a department that was not there
        statuses = store.assignments.statuses()
        assert statuses is not previous or statuses == previous
        starred = frozenset(rng.sample(range(1, 30), 4))
        for args in ((starred, {}, only), (starred, {}, None), (frozenset(), {"司法局": "t"})):
            got = sorted(compute_scores(statuses, *args), key=lambda s: s.department)
            fresh = sorted(compute_scores(dict(statuses), *args), key=lambda s: s.department)
            assert got == fresh, (step, args)
        from bot import progress

        derived_updates += progress._DERIVED.get(id(statuses), (None,))[0] is statuses
        previous = statuses
    assert derived_updates > 100  # the updates, not fresh counts, were checked


def test_scores_counted_by_threads_at_once_equal_scores_counted_from_scratch(store):
    """The answering consumer's lanes read the statuses and count scores at once while others
    change them: each thread's scores equal a count from scratch of the mapping it read."""
    import threading

    from bot.progress import compute_scores

    depts = ["司法局", "教育局", "民政局"]
    store.assignments.sync({(i, d): Role.LEAD for i in range(1, 20) for d in depts})
    states = [f"{Role.LEAD.value}:{s.value}" for s in Status]
    wrong: list = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            statuses = store.assignments.ranking_inputs()[0]
            got = sorted(compute_scores(statuses, {3}, {}), key=lambda s: s.department)
            fresh = sorted(compute_scores(dict(statuses), {3}, {}), key=lambda s: s.department)
            if got != fresh:
                wrong.append((got, fresh))

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
    for n in range(150):
        field = f"{n % 19 + 1}|{depts[n % 3]}"
        value = states[n % len(states)]
        store.r.hset(store.keys.statuses, field, value)  # as the save script writes it
        store.r.xadd(store.keys.status_log, {"f": field, "v": value})
    stop.set()
    for t in threads:
        t.join()
    assert not wrong
    from bot.store.assignments import _parse_statuses

    # and what the log gave is what the hash holds
    whole = _parse_statuses(store.r.hgetall(store.keys.statuses))
    assert dict(store.assignments.statuses()) == dict(whole)


def _begin(store, push_id: str, token: str, limit: int = 20) -> Begin:
    keys = store.delivery.begin_keys(push_id, 0, "robot-chat-1")
    return Begin(keys, token, 5000, limit, 60000, 3600)


def test_a_finish_claims_the_replys_first_part_in_the_same_step(store):
    """Finish.begin: push_begin's claim taken by the script that stores the reply, for a
    callback that changed nothing and for one that saved a change, each its own outcome."""
    store.assignments.sync({(4, "司法局"): Role.LEAD})
    assert store.inbox.claim("dingtalk", "m1") == (True, "")
    done = store.inbox.finish(Finish("dingtalk", "m1", "好", begin=_begin(store, "r:1", "t1")))
    assert done == Finished(False, ("go", 0))
    assert store.inbox.claim("dingtalk", "m1") == (False, "好")
    marker = store.r.get(store.keys.part_marker("r:1", 0)).decode()
    assert marker.startswith("sending:t1:")
    assert store.r.zcard(store.keys.budget("robot-chat-1")) == 1
    # the same part once more: claimed by t1 until its deadline, as push_begin would say
    again = store.inbox.finish(Finish("dingtalk", "m2", "好", begin=_begin(store, "r:1", "t2")))
    assert again.begun[0] == "busy" and 0 < again.begun[1] <= 5000
    # with a change: the save's script claims it, its drain flag beside
    a, raw = store.assignments.get(4, "司法局")
    fin = Finish("dingtalk", "m3", "已完成", begin=_begin(store, "r:3", "t3", limit=2))
    saved = store.assignments.save(Change(raw, a.changed("x", "t", explanation="e"), "x", "e"), fin)
    assert saved == Finished(False, ("go", 0))
    assert store.assignments.get(4, "司法局")[0].explanation == "e"
    assert store.r.get(store.keys.part_marker("r:3", 0)).decode().startswith("sending:t3:")
    # the robot's budget is full (2 slots taken of 2): the claim waits, nothing is marked
    a, raw = store.assignments.get(4, "司法局")
    fin = Finish("dingtalk", "m4", "已完成", begin=_begin(store, "r:4", "t4", limit=2))
    saved = store.assignments.save(Change(raw, a.changed("x", "t", explanation="f"), "x", "e"), fin)
    assert saved.begun[0] == "budget" and saved.begun[1] > 0
    assert store.r.get(store.keys.part_marker("r:4", 0)) is None
    assert store.inbox.claim("dingtalk", "m4") == (False, "已完成")  # the reply stored all the same
    # without a begin, as before: the drain flag alone
    assert store.inbox.finish(Finish("dingtalk", "m5", "好")) == Finished(False, None)
