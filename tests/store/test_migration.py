"""The one-off migration into campaign keys (bot/migrate.py, bot/store/migration.py).

The store before it is written exactly as the code before campaigns left it: every key of
tests/fixtures/store_layout.json (written by that code, see test_layout.py) with its type, value
and time to live. After the migration every key is where today's store looks for it, with the
same type, value and expiry, and every area reads back what the old store read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.store import RedisStore
from bot.store.migration import Migration
from tests.store.conftest import CLUSTER
from tests.store.test_layout import FIXTURE, _comparable, snapshot, tagged

ROOT = Path(__file__).resolve().parents[2]
# The old layout's scripts span slots: on a cluster it is written and moved by test_cluster.py.
pytestmark = pytest.mark.skipif(CLUSTER, reason="one Redis: the layout before campaigns")
DEPTS = ("司法局", "行政审批局", "教育局")
NOW_S = 1597370400.0  # the fixture's clock (2020-08-14 02:00 UTC)


def write_old_layout(client, layout: dict) -> None:
    """Each key of the layout before campaigns, as that code wrote it (streams entry by entry,
    in order), with its expiry."""
    for key, e in layout.items():
        kind, value = e["type"], e["value"]
        if kind == "string":
            client.set(key, value)
        elif kind == "hash":
            client.hset(key, mapping=value)
        elif kind == "list":
            client.rpush(key, *value)
        elif kind == "set":
            client.sadd(key, *value)
        elif kind == "zset":
            client.zadd(key, {m: s for m, s in value})
        else:
            for fields in value:
                client.xadd(key, dict(fields))
        if e["ttl"] > 0:
            client.expire(key, e["ttl"])
    client.xgroup_create("t:outbox", "g", id="0")  # the drainers' group (ensure_group)
    client.xgroup_create("t:inbox", "answer", id="0")


def reads(store: RedisStore) -> dict:
    """What every area of a store reads (nothing written)."""
    a, s = store.assignments, store
    return {
        "assignments": a.of_departments(DEPTS),
        "statuses": dict(a.statuses()),
        "stars": a.star_overrides(),
        "events": a.event_dates(),
        "undo": a.undo_top("司法局", 12),
        "preload": a.preload("console", "u-sfj", 12, "one"),
        "bindings": sorted(s.bindings.all(), key=repr),
        "requests": s.bindings.requests(),
        "comments": s.comments.threads([(12, "司法局")]),
        "audit": s.audit.entries(count=10000),
        "audit_len": s.audit.length(),
        "outbox": s.outbox.latest(),
        "claim": s.inbox.stored_reply("dingtalk", "m-claim"),
        "backlog": s.inbox.backlog(),
        "parts": s.delivery.part_states("push-1", [0]),
        "dead": s.delivery.dead_letters(),
        "token": s.delivery.cached_token("wecom"),
        "lease": s.delivery.has_lease("push-2"),
        "cooldowns": {d: r for d, (at, r) in s.reminders.cooldowns(DEPTS).items() if at},
        "links": s.links.states(["https://www.jinfeng.gov.cn/a.html"]),
        "queued": s.links.queued(),
        "due": s.links.due(3e9, 10),
        "slots": s.scheduler.slot_states("remind", ["2020-08-13T09", "2020-08-14T09"]),
        "submissions": s.submissions.of_department("司法局"),
        "submitted": s.submissions.latest(),
        "exports": s.exports.list("司法局"),
        "fill": s.fill_links.get("L" * 22),
        "fill_of": s.fill_links.current("console", "u-sfj"),
        "session": s.logins.session_fingerprint("sess-1"),
        "inspections": s.inspections.marks(DEPTS),
    }


@pytest.fixture
def old_layout():
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture
def old_store(redis_client, clock, old_layout):
    write_old_layout(redis_client, old_layout)
    return RedisStore(redis_client, "t", clock, campaign=None)


def reads_old(store: RedisStore) -> dict:
    """`reads` of the old layout, leaving it as the old code left it: without the statuses'
    change log that today's read begins (Assignments.statuses)."""
    out = reads(store)
    store.r.delete(store.keys.status_log)
    return out


def _without_ttl_drift(reads_: dict) -> dict:
    out = dict(reads_)
    out["cooldowns"] = {d: r // 60 for d, r in out["cooldowns"].items()}
    return out


def test_a_store_of_the_old_code_reads_back_identical_after_the_migration(
    old_store, old_layout, redis_client, clock
):
    before = reads_old(old_store)
    assert before["audit_len"] > 10 and before["bindings"] and before["submissions"]
    result = Migration(redis_client, "t", "default").run()
    assert result.moved == len(old_layout) and not result.conflicts
    # every key at its place, with its type, value and expiry; nothing left at an old name
    layout = snapshot(redis_client, "t", {})
    assert _comparable(layout) == _comparable(tagged(old_layout))
    for key, entry in tagged(old_layout).items():
        if entry["ttl"] > 0:
            assert abs(layout[key]["ttl"] - entry["ttl"]) <= 5, key
    new = RedisStore(redis_client, "t", clock, campaign="default")
    assert _without_ttl_drift(reads(new)) == _without_ttl_drift(before)
    # the consumer groups came along: a drainer goes on where it was
    assert {g["name"] for g in redis_client.xinfo_groups(new.keys.outbox)} == {b"g"}
    assert new.keys.outbox == "t:{default}:outbox" and new.keys.inbox == "t:{_}:inbox"


def test_running_it_again_changes_nothing(old_store, redis_client):
    migration = Migration(redis_client, "t", "default")
    assert migration.ensure() is not None
    once = snapshot(redis_client, "t", {})
    assert migration.ensure() is None  # the layout marker: one GET
    redis_client.delete(migration.keys.layout)
    again = migration.run()  # without the marker too: nothing of the old layout is left
    assert (again.moved, again.finished, again.conflicts) == (0, 0, [])
    assert _comparable(snapshot(redis_client, "t", {})) == _comparable(once)


def test_a_run_that_dies_half_way_is_completed_by_the_next(
    old_store, old_layout, redis_client, clock
):
    before = reads_old(old_store)
    migration = Migration(redis_client, "t", "default")
    moved = []

    class Killed(Exception):
        pass

    def die_after_ten(old, new):
        moved.append(old)
        if len(moved) == 10:
            raise Killed

    with pytest.raises(Killed):
        migration.run(after_each=die_after_ten)
    assert not migration.done()
    half = snapshot(redis_client, "t", {})
    assert sum("{" in k for k in half) == 10 and len(half) == len(old_layout)
    # a cluster run that died between RESTORE and DEL leaves one key at both names
    left = sorted(k for k in half if "{" not in k)[0].encode()
    redis_client.restore(migration.target(left), 0, redis_client.dump(left))
    result = migration.run()
    assert result.finished == 1 and result.moved == len(old_layout) - 11 and not result.conflicts
    assert migration.done()
    assert _comparable(snapshot(redis_client, "t", {})) == _comparable(tagged(old_layout))
    new = RedisStore(redis_client, "t", clock, campaign="default")
    assert _without_ttl_drift(reads(new)) == _without_ttl_drift(before)


def test_a_new_name_holding_another_value_is_never_overwritten(old_store, redis_client):
    migration = Migration(redis_client, "t", "default")
    redis_client.set("t:{default}:origin", "live")  # the old store says "demo"
    result = migration.run()
    assert result.conflicts == ["t:origin"]
    assert redis_client.get("t:origin") == b"demo"
    assert redis_client.get("t:{default}:origin") == b"live"
    assert not migration.done()  # the next start-up tries again (and says so)


def test_start_up_migrates_the_default_campaign_and_the_command_line_says_so(
    old_store, old_layout, redis_client, settings
):
    env = {**os.environ, "DUBAN_REDIS_URL": settings.redis_url, "DUBAN_KEY_PREFIX": "t"}
    env["DUBAN_CAMPAIGN"] = "jinfeng-2020"

    def run():
        return subprocess.run(
            [sys.executable, "-m", "bot.migrate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    out = run()
    assert out.returncode == 0, out.stderr
    assert f"已迁移 {len(old_layout)} 个键到默认活动 jinfeng-2020" in out.stdout
    assert redis_client.exists("t:{jinfeng-2020}:dept:司法局", "t:{_}:inbox") == 2
    again = run()
    assert again.returncode == 0 and "无需迁移" in again.stdout
