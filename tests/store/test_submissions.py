"""The store methods of the background jobs on a real Redis: submissions, exports,
sent-markers, ranking, the scheduler lock and slots."""

from __future__ import annotations

import json
import time

import pytest

from bot.messages import Notice
from bot.progress import Role, Status
from bot.records import Change
from bot.store import RedisStore
from tests.outbox import read_outbox


@pytest.fixture
def store(redis_client, clock):
    s = RedisStore(redis_client, "j", clock)
    s.assignments.sync({(4, "司法局"): Role.LEAD, (7, "司法局"): Role.COOPERATE})
    return s


def outbox(store):
    return [n for _, n, _ in read_outbox(store, count=1000)]


def test_submit_catalog_freezes_a_numbered_version_atomically(store):
    a, raw = store.assignments.get(4, "司法局")
    store.assignments.save(
        Change(raw, a.changed("x", "t", explanation="一"), "x", "explain", undo="keep")
    )
    audit = store.audit.length()
    notice = Notice("司法局已报送第@VERSION@版", "", (), "notice")
    v1, at1 = store.submissions.submit("司法局", "console:u", notice)
    assert (v1, at1) == (1, "2020-08-14T02:00:00.000Z")
    assert store.audit.length() == audit + 1
    entry = store.audit.entries(count=1)[0]
    assert (entry.action, entry.department, entry.after, entry.actor) == (
        "submit_catalog", "司法局", "1", "console:u"
    )  # fmt: skip
    assert outbox(store)[-1].text == "司法局已报送第1版"
    frozen = store.assignments.of_department("司法局")
    a, raw = store.assignments.get(4, "司法局")
    store.assignments.save(
        Change(raw, a.changed("x", "t", explanation="二"), "x", "explain", undo="keep")
    )
    v2, _ = store.submissions.submit("司法局", "console:u", notice)
    assert v2 == 2 and outbox(store)[-1].text == "司法局已报送第2版"
    assert store.submissions.get("司法局", 1)["assignments"] == frozen
    assert store.submissions.get("司法局", 2)["assignments"][4].explanation == "二"
    assert store.submissions.get("司法局", 3) is None and store.submissions.get("司法局", 0) is None
    assert store.submissions.latest() == {"司法局": {"version": 2, "at": at1}}
    merged = store.submissions.update_files("司法局", 1, {"xlsx": "t1"}, "s", "submission_files")
    merged = store.submissions.update_files("司法局", 1, {"mail": "sent"}, "s", "submission_mailed")
    assert merged == {"xlsx": "t1", "mail": "sent"}
    assert [s.get("mail") for s in store.submissions.of_department("司法局")] == ["sent", None]
    assert json.loads(store.audit.entries(count=1)[0].after) == merged


def test_exports_are_stored_listed_and_expire(store, clock):
    t1 = store.exports.put(
        "司法局_资料目录.xlsx", b"PK\x03\x04data", department="司法局", kind="xlsx"
    )
    clock.set(2020, 8, 14, 2, 1)
    t2 = store.exports.put("全区.xlsx", b"\x00\xff", ttl=1, kind="xlsx")
    clock.set(2020, 8, 14, 2, 2)
    t3 = store.exports.put("kept.docx", b"x", ttl=0, department="司法局", kind="docx")
    assert store.exports.get(t1) == ("司法局_资料目录.xlsx", b"PK\x03\x04data")
    assert [e["token"] for e in store.exports.list("司法局")] == [t3, t1]
    assert {e["token"] for e in store.exports.list()} == {t1, t2, t3}
    row = store.exports.list("司法局")[1]
    assert row["size"] == 8 and row["created_at"] == "2020-08-14T02:00:00.000Z"
    assert row["expires_at"] == "2020-08-21T02:00:00.000Z"
    assert store.exports.list("司法局")[0]["expires_at"] == ""
    assert store.audit.entries(action="export", count=10)[0].note == "kept.docx"
    time.sleep(1.1)
    assert store.exports.get(t2) is None
    assert {e["token"] for e in store.exports.list()} == {t1, t3}
    assert store.r.zscore(store.keys.exports, t2) is None  # dropped from the index
    assert store.exports.get("../../etc") is None and store.exports.get("") is None


def test_add_notices_once(store):
    items = [("remind:s:司法局", Notice("a", "司法局")), ("remind:s:民政局", Notice("b", "民政局"))]
    assert store.outbox.add_once(items) == 2
    assert store.outbox.add_once(items) == 0
    more = [*items, ("remind:s2:司法局", Notice("c", "司法局", ("u1",), "escalation"))]
    assert store.outbox.add_once(more) == 1
    got = outbox(store)
    assert [(n.text, n.department, n.mentions, n.kind) for n in got] == [
        ("a", "司法局", (), "notice"),
        ("b", "民政局", (), "notice"),
        ("c", "司法局", ("u1",), "escalation"),
    ]
    assert store.r.exists(store.keys.marker("remind:s2:司法局"))
    assert not store.r.exists(store.keys.marker("remind:s3:司法局"))


def test_publish_ranking_once_per_marker(store):
    store.r.hset(store.keys.last_ranking, "gone", 9)
    n = [Notice("x", "司法局", (), "ranking"), Notice("t", "", (), "ranking")]
    assert store.outbox.publish_ranking("rank:a", {"司法局": 1, "民政局": 2}, n)
    assert not store.outbox.publish_ranking("rank:a", {"司法局": 5}, n)
    assert store.assignments.ranking_inputs()[3] == {"司法局": 1, "民政局": 2}
    assert len(outbox(store)) == 2
    assert store.audit.entries(count=1)[0].action == "ranking"


def test_lock_and_slots(store):
    assert store.scheduler.hold_lock("scheduler", "a", 1000)
    assert not store.scheduler.hold_lock("scheduler", "b", 1000)
    assert store.scheduler.hold_lock("scheduler", "a", 1000)  # renewal
    assert not store.scheduler.release_lock("scheduler", "b")
    assert store.scheduler.release_lock("scheduler", "a")
    assert store.scheduler.hold_lock("scheduler", "b", 1000)
    assert store.scheduler.slot_states("remind", ["d1", "d2"]) == {"d1": "", "d2": ""}
    assert store.scheduler.claim_slot("remind", "d1", "b")
    assert not store.scheduler.claim_slot("remind", "d1", "c")
    store.scheduler.finish_slot("remind", "d1", "remind-d1")
    assert store.scheduler.slot_states("remind", ["d1", "d2"]) == {"d1": "done:remind-d1", "d2": ""}
    assert not store.scheduler.claim_slot("remind", "d1", "c")


def test_set_status_through_save_keeps_statuses(store):
    a, raw = store.assignments.get(7, "司法局")
    store.assignments.save(
        Change(raw, a.changed("x", "t", status=Status.DONE), "x", "done", undo="keep")
    )
    assert store.assignments.statuses()[(7, "司法局")] == (Role.COOPERATE, Status.DONE)
