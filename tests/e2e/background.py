"""Shared pieces of the background-job tests: settings in the environment (the worker's jobs
read them like a real worker would), a runtime that enqueues onto the real RQ queue, a burst
worker, and small readers of the outbox."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime

import pytest
import redis
from rq import SimpleWorker

from bot.config import Settings
from bot.messages import Incoming, Notice
from bot.progress import Status
from bot.queue import all_queues
from bot.records import Binding, Change
from bot.runtime import build_runtime
from tests.outbox import read_outbox

PREFIX = "bg"
PUBLIC = "http://duban.test"
_ids = itertools.count(1)


def use_env(monkeypatch, values: dict[str, str]) -> Settings:
    """Exactly these DUBAN_* variables for this test (the rest removed), as the jobs and every
    process read them; the settings they make."""
    for k in [k for k in os.environ if k.startswith("DUBAN_")]:
        monkeypatch.delenv(k)
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return Settings.from_env()


@pytest.fixture
def env(redis_url, monkeypatch):
    """DUBAN_* settings for this test, visible to the jobs (which read the environment)."""
    values = {
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_KEY_PREFIX": PREFIX,
        "DUBAN_DEMO": "1",
        "DUBAN_PUBLIC_URL": PUBLIC,
    }
    use_env(monkeypatch, values)

    def set_(**more: str) -> Settings:
        for k, v in more.items():
            monkeypatch.setenv(k, v)
        return Settings.from_env()

    set_.settings = Settings.from_env()
    return set_


@pytest.fixture
def rt(env, redis_client, clock):
    client = redis.Redis.from_url(env.settings.redis_url)
    runtime = build_runtime(Settings.from_env(), clock=clock, client=client)
    yield runtime
    client.close()


def work(rt) -> None:
    """Answer the callbacks waiting in the inbox as the answering consumer does, then run every
    queued job, on every queue (urgent first), for real in a burst worker (in this process)."""
    if rt.redis.exists(rt.store.keys.inbox):
        from bot import inbox

        inbox.drain_inbox(rt, rt.delivery)
    queues = all_queues(rt.redis, rt.settings.key_prefix)
    SimpleWorker(queues, connection=rt.redis).work(burst=True)


def notices(rt, kind: str | None = None) -> list[Notice]:
    out, after = [], "0"
    while True:
        batch = read_outbox(rt.store, after_id=after, count=500)
        if not batch:
            break
        out += [n for _, n, _ in batch]
        after = batch[-1][0]
    return [n for n in out if kind is None or n.kind == kind]


def local(*args: int) -> datetime:
    """A Shanghai wall-clock time as an aware UTC instant."""
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def say(rt, user: str, text: str, admin: bool = False) -> str:
    msg = Incoming(
        platform="console",
        user_id=user,
        text=text,
        mentioned=True,
        message_id=f"bg{next(_ids)}",
        is_admin=admin,
    )
    reply = rt.dispatcher.handle(msg)
    return reply.text


def bind(rt, user: str, department: str, role: str = "member", name: str = "") -> None:
    b = Binding("console", user, department, name or user, role, rt.store.now_iso())
    rt.store.bindings.set("console", user, rt.store.bindings.get("console", user), b, "test")


def set_status(rt, ind: int, dept: str, status: Status, *, reached_at: str = "", **changes):
    """Write one assignment's state through the store (compare-and-set, audited)."""
    a, raw = rt.store.assignments.get(ind, dept)
    if status.is_complete and not (a.materials or a.explanation or changes):
        changes["explanation"] = "已按要求完成。"
    after = a.changed("test", rt.store.now_iso(), status=status, **changes)
    rt.store.assignments.save(
        Change(raw, after, "test", "test", undo="keep", reached_at=reached_at)
    )
    return after


def complete_department(rt, dept: str, reached_at: str = "") -> int:
    ids = [i for (i, d) in rt.assignments if d == dept]
    for i in ids:
        set_status(rt, i, dept, Status.DONE, reached_at=reached_at or rt.store.now_iso())
    return len(ids)


def shifted_indicators(tmp_path, days: int) -> str:
    """A copy of the shipped indicators.yaml whose campaign dates are `days` later (to run the
    campaign over other holidays); its path, for DUBAN_INDICATORS."""
    import datetime as dt

    import yaml

    from bot.config import ROOT

    doc = yaml.safe_load((ROOT / "indicators.yaml").read_text(encoding="utf-8"))
    c = doc["campaign"]
    delta = dt.timedelta(days=days)
    c["issued_on"] += delta
    for d in c["deadlines"]:
        d["date"] += delta
    for e in c.get("events", []):
        first = dt.date.fromisoformat(e["window"] + "-01") + delta
        e["window"] = f"{first.year}-{first.month:02d}"
    path = tmp_path / "indicators.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path)


def departments(rt) -> list[str]:
    have = {d for _, d in rt.assignments}
    return [d for d in rt.org.departments if d in have]
