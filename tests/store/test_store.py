"""RedisStore on a real Redis: seeding, de-duplication, compare-and-set, prefixes, audit."""

from __future__ import annotations

import pytest

from bot.messages import Notice
from bot.progress import Assignment, Role, Status
from bot.records import Change, ConflictError, Finish
from bot.store import RedisStore


@pytest.fixture
def store(redis_client, clock):
    return RedisStore(redis_client, "s", clock)


def test_sync_assignments_creates_once_and_never_overwrites(store):
    pairs = {(1, "司法局"): Role.COOPERATE, (4, "司法局"): Role.LEAD}
    assert store.sync_assignments(pairs) == 2
    a, raw = store.assignment(4, "司法局")
    done = a.changed("x", "t", status=Status.DONE, explanation="e")
    store.save(Change(raw, done, "x", "done"))
    assert store.sync_assignments(pairs) == 0
    assert store.assignment(4, "司法局")[0].status is Status.DONE
    assert store.statuses()[(4, "司法局")] == (Role.LEAD, Status.DONE)


def test_save_refuses_a_stale_expected_value(store):
    store.sync_assignments({(4, "司法局"): Role.LEAD})
    a, raw = store.assignment(4, "司法局")
    store.save(Change(raw, a.changed("x", "t", explanation="one"), "x", "explain"))
    n = store.audit_len()
    with pytest.raises(ConflictError):
        store.save(Change(raw, a.changed("y", "t", explanation="two"), "y", "explain"))
    assert store.assignment(4, "司法局")[0].explanation == "one"
    assert store.audit_len() == n


def test_save_writes_notices_and_links_with_the_change(store):
    store.sync_assignments({(4, "司法局"): Role.LEAD})
    a, raw = store.assignment(4, "司法局")
    ch = Change(
        raw,
        a.changed("x", "t", status=Status.RETURNED, reason="r"),
        "x",
        "return",
        notices=(Notice("退回了", "司法局", ("u1", "u2"), "review"),),
        link_urls=("https://a.cn",),
    )
    store.save(ch)
    [(_, notice, at)] = store.outbox()
    assert notice == Notice("退回了", "司法局", ("u1", "u2"), "review") and at
    assert store.queued_links() == ["https://a.cn"]
    e = store.audit(count=1)[0]
    assert (e.action, e.department, e.indicator, e.actor) == ("return", "司法局", 4, "x")
    assert Assignment.from_json(4, "司法局", e.after).reason == "r"


def test_claim_message_dedupes_and_returns_the_stored_reply(store):
    assert store.claim_message("dingtalk", "m1") == (True, "")
    assert store.claim_message("dingtalk", "m1") == (False, "")
    store.finish(Finish("dingtalk", "m1", "已收到"))
    assert store.claim_message("dingtalk", "m1") == (False, "已收到")
    assert store.claim_message("wecom", "m1") == (True, "")
    ttl = store.r.ttl(store.keys.seen("dingtalk", "m1"))
    assert 86000 < ttl <= 86400


def test_prefixes_isolate_two_stores(redis_client, clock):
    a, b = RedisStore(redis_client, "a", clock), RedisStore(redis_client, "b", clock)
    a.sync_assignments({(4, "司法局"): Role.LEAD})
    assert b.assignment(4, "司法局") == (None, "")
    assert all(k.startswith(b"a:") for k in redis_client.keys("*"))


def test_audit_filters_and_paging(store):
    store.sync_assignments({(i, "司法局"): Role.LEAD for i in range(1, 6)})
    for i in range(1, 6):
        a, raw = store.assignment(i, "司法局")
        store.save(Change(raw, a.changed("x", "t", explanation="e"), "x", "explain"))
    store.set_star(3, None, True, "boss")
    assert [e.indicator for e in store.audit(count=3)] == [3, 5, 4]
    assert [e.action for e in store.audit(action="star")] == ["star"]
    page1 = store.audit(count=2)
    page2 = store.audit(count=2, before_id=page1[-1].id)
    assert [e.indicator for e in page2] == [4, 3]
    assert len(store.audit(department="司法局", count=100)) == 5


def test_statuses_are_parsed_once_per_process_while_the_hash_is_unchanged(store):
    """进度 and 排行 read the whole status hash: an unchanged hash gives the same read-only
    mapping and the same scores without parsing or counting again; any change gives new ones."""
    from bot.progress import compute_scores

    store.sync_assignments({(4, "司法局"): Role.LEAD, (1, "司法局"): Role.COOPERATE})
    first = store.ranking_inputs()[0]
    assert store.statuses() is first and store.ranking_inputs()[0] is first
    with pytest.raises(TypeError):
        first[(9, "司法局")] = (Role.LEAD, Status.DONE)  # shared: nobody may change it
    scores = compute_scores(first, set(), {})
    assert compute_scores(first, set(), {}) == scores
    assert scores[0].done_weight == 0 and scores[0].total_weight == 3
    assert compute_scores(first, {4}, {})[0].total_weight == 5  # other arguments: counted anew
    a, raw = store.assignment(4, "司法局")
    store.save(Change(raw, a.changed("x", "t", status=Status.DONE, explanation="e"), "x", "done"))
    after = store.ranking_inputs()[0]
    assert after is not first and after[(4, "司法局")] == (Role.LEAD, Status.DONE)
    assert compute_scores(after, set(), {})[0].done_weight == 2
