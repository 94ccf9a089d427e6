"""The scheduler: cron-like local times, working days, quiet hours, the lock, catch-up once.

In-process schedulers run with an injected clock; the last test runs `python -m bot.scheduler`
as real processes with a fast fake clock, kills one mid-day and restarts it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.queue import LINKS, job_key, make_queue
from bot.schedule import Cron, Scheduler, job_id, schedule_table
from bot.workdays import WorkCalendar
from tests.e2e.background import (
    PREFIX,
    bind,
    complete_department,
    departments,
    local,
    notices,
    say,
    shifted_indicators,
    work,
)

ROOT = Path(__file__).resolve().parents[2]
SH = ZoneInfo("Asia/Shanghai")


def make(rt, clock, settings=None, **kw) -> Scheduler:
    settings = settings or rt.settings
    return Scheduler(
        rt.store,
        WorkCalendar.from_settings(settings),
        rt.services.enqueue,
        schedule_table(settings),
        clock,
        **kw,
    )


def queued(rt) -> list[str]:
    """The local ids of the jobs waiting on the main queue (RQ's carry the prefix)."""
    prefix = job_key(rt.settings.key_prefix, "")
    ids = make_queue(rt.redis, rt.settings.key_prefix).get_job_ids()
    assert all(i.startswith(prefix) for i in ids)
    return [i.removeprefix(prefix) for i in ids]


# Entries that run every minute (link checks, the outbox's and the inbox's drain safety nets,
# the summaries of folded binding notices), and the daily backup, which follows the real clock
# whatever the campaign's says (tests/store/test_backup.py).
EVERY_MINUTE = ("linkcheck", "drain-", "bindfold-", "answer-", "backup-")


def daily(ids: list[str]) -> list[str]:
    return [j for j in ids if not j.startswith(EVERY_MINUTE)]


# --- cron ------------------------------------------------------------------------------------


def test_cron_fields():
    c = Cron("30 17 * * 1-5")
    assert c.matches(datetime(2020, 8, 14, 17, 30, tzinfo=SH))  # Friday
    assert not c.matches(datetime(2020, 8, 15, 17, 30, tzinfo=SH))  # Saturday
    assert [t.strftime("%H:%M") for t in Cron("0,30 9 * * *").times_on(date(2020, 8, 14), SH)] == [
        "09:00",
        "09:30",
    ]
    assert Cron("*/20 8 * * *").times_on(date(2020, 8, 14), SH)[-1].minute == 40
    assert Cron("0 9 1 * 0").matches_day(date(2020, 8, 16))  # a Sunday, not the 1st: either
    with pytest.raises(ValueError):
        Cron("61 9 * * *")
    assert job_id("export", "司法局", 3).startswith("export-x") and job_id("a", "b") == "a-b"


# --- one scheduler, injected clock ----------------------------------------------------------


def test_slots_fire_at_local_times_on_working_days_once(rt, clock):
    s = make(rt, clock)
    clock.now = local(2020, 8, 14, 8, 59)
    assert daily(s.tick()) == []
    clock.now = local(2020, 8, 14, 9, 0, 20)
    assert daily(s.tick()) == ["remind-2020-08-14-0900", "escalate-2020-08-14-0900"]
    clock.now = local(2020, 8, 14, 9, 1)
    assert daily(s.tick()) == []
    clock.now = local(2020, 8, 14, 17, 30)
    assert daily(s.tick()) == ["rank-2020-08-14-1730"]
    assert daily(s.tick()) == []
    work(rt)
    depts = departments(rt)
    pushed = [n for n in notices(rt) if n.kind in ("reminder", "escalation")]
    assert sorted(n.department for n in pushed) == sorted(depts)  # before 19 Aug: no digest
    assert len(notices(rt, "ranking")) == len(depts) + 1


def test_no_reminder_on_a_statutory_holiday_and_one_on_a_tiaoxiu_saturday(rt, clock, env, tmp_path):
    # a campaign seven weeks later than the notice's (issued on 10/1), so that National Day
    # and the 调休 Saturday after it fall inside it
    env(DUBAN_INDICATORS=shifted_indicators(tmp_path, 49))
    s = make(rt, clock)
    clock.now = local(2020, 10, 1, 9, 0)  # National Day
    assert daily(s.tick()) == []
    clock.now = local(2020, 10, 1, 17, 30)
    assert daily(s.tick()) == []
    clock.now = local(2020, 10, 3, 9, 5)  # a plain Saturday in the holiday
    assert daily(s.tick()) == []
    work(rt)
    assert notices(rt) == []
    clock.now = local(2020, 10, 10, 9, 0)  # Saturday, a make-up working day (调休)
    assert "remind-2020-10-10-0900" in s.tick()
    work(rt)
    assert {n.department for n in notices(rt, "reminder")} == set(departments(rt))


def test_a_complete_department_gets_no_reminder(rt, clock):
    complete_department(rt, "金凤区人民法院")
    bind(rt, "court", "金凤区人民法院")
    assert "已报送" in say(rt, "court", "报送 确认")  # sent: nothing left to prompt
    clock.now = local(2020, 8, 13, 9, 0)  # the day the notice was issued
    make(rt, clock).tick()
    work(rt)
    got = {n.department for n in notices(rt, "reminder")}
    assert "金凤区人民法院" not in got and got == set(departments(rt)) - {"金凤区人民法院"}


def test_quiet_hours_hold_a_push_back_until_they_end(rt, clock, env):
    settings = env(DUBAN_REMIND_AT="07:30")  # inside the default quiet hours 21:00-08:00
    s = make(rt, clock, settings)
    clock.now = local(2020, 8, 14, 7, 30)
    assert daily(s.tick()) == []
    clock.now = local(2020, 8, 14, 7, 59)
    assert daily(s.tick()) == []
    clock.now = local(2020, 8, 14, 8, 0)
    assert daily(s.tick()) == ["remind-2020-08-14-0730", "escalate-2020-08-14-0730"]


def test_a_scheduler_that_was_down_catches_up_each_missed_slot_once(rt, clock):
    clock.now = local(2020, 8, 14, 8, 0)
    first = make(rt, clock)
    assert daily(first.tick()) == []
    first.store.scheduler.release_lock("scheduler", first.token)  # it stops (cleanly) before 09:00
    clock.now = local(2020, 8, 14, 17, 45)  # a new process, after both slots
    second = make(rt, clock)
    assert daily(second.tick()) == [
        "remind-2020-08-14-0900",
        "escalate-2020-08-14-0900",
        "rank-2020-08-14-1730",
    ]
    assert daily(second.tick()) == []
    second.store.scheduler.release_lock("scheduler", second.token)
    clock.now = local(2020, 8, 14, 17, 50)
    assert daily(make(rt, clock).tick()) == []  # a third one finds them done
    # the next day starts afresh; yesterday's slots are not caught up
    clock.now = local(2020, 8, 17, 8, 0)
    assert daily(make(rt, clock).tick()) == []
    work(rt)
    assert len(notices(rt, "ranking")) == len(departments(rt)) + 1


def test_only_the_lock_holder_acts_and_another_takes_over(rt, clock):
    clock.now = local(2020, 8, 14, 8, 59)
    a = make(rt, clock, lock_ttl_ms=300)
    b = make(rt, clock, lock_ttl_ms=300)
    a.tick()
    b.tick()
    assert a.is_leader and not b.is_leader
    clock.now = local(2020, 8, 14, 9, 0)
    assert b.tick() == [] and not b.is_leader
    time.sleep(0.4)  # a has died without releasing: its lock runs out
    assert daily(b.tick()) == ["remind-2020-08-14-0900", "escalate-2020-08-14-0900"]
    assert b.is_leader and daily(a.tick()) == [] and not a.is_leader


def test_link_checks_run_every_minute_without_catch_up(rt, clock):
    s = make(rt, clock)
    clock.now = local(2020, 8, 14, 10, 0, 5)
    assert "linkcheck" in s.tick()  # with the 09:00 slots caught up
    assert s.tick() == []
    clock.now = local(2020, 8, 14, 10, 7)  # 10:01-10:06 were missed: only the current minute
    assert s.tick() == [
        "linkcheck", "drain-2020-08-14-1007", "bindfold-2020-08-14-1007", "answer-2020-08-14-1007"
    ]  # fmt: skip
    # One job for every slot: while the 10:00 run still waits, the 10:07 slot added none.
    prefix = rt.settings.key_prefix
    assert make_queue(rt.redis, prefix, LINKS).get_job_ids() == [job_key(prefix, "linkcheck")]


def test_a_failed_job_is_retried_with_backoff_and_the_office_told_at_the_end(rt, clock, env):
    from bot.scheduler import retry_releaser

    settings = env(DUBAN_SMTP_URL="smtp://127.0.0.1:1?from=a@b.test")  # nothing listens there
    rt.services.settings = settings
    from bot.records import Binding

    b = Binding("console", "u1", "司法局", "u1", "member", rt.store.now_iso())
    rt.store.bindings.set("console", "u1", None, b, "test")
    from tests.e2e.background import say

    say(rt, "u1", "说明 12 已整理清单。")
    assert "邮件发送至" in say(rt, "u1", "报送 确认")
    work(rt)  # builds the files, then the mail job fails once
    q = make_queue(rt.redis, rt.settings.key_prefix)
    release = retry_releaser(q)
    mail = job_key(rt.settings.key_prefix, job_id("mail", "司法局", 1))
    for _attempt in range(3):
        assert mail in q.scheduled_job_registry.get_job_ids()
        assert not [n for n in notices(rt) if "多次重试后仍失败" in n.text]
        assert release(time.time() + 1000) == 1  # as if the backoff delay had passed
        work(rt)
    failed = [n for n in notices(rt) if "多次重试后仍失败" in n.text]
    assert len(failed) == 1 and failed[0].department == ""
    assert "报送材料邮件发送" in failed[0].text and "（司法局）（第1版）" in failed[0].text
    assert mail in q.failed_job_registry.get_job_ids()
    sub = rt.store.submissions.of_department("司法局")[0]
    assert sub["mail"] == "failed" and sub["xlsx"] and rt.store.exports.get(sub["xlsx"])


# --- real processes --------------------------------------------------------------------------


def _start(redis_url: str, fake_now: str, speed: int = 60) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_KEY_PREFIX": PREFIX,
        "DUBAN_DEMO": "1",
        "DUBAN_FAKE_NOW": fake_now,
        "DUBAN_CLOCK_SPEED": str(speed),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot.scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def _slot_done(rt, name: str, slot: str) -> bool:
    return rt.store.scheduler.slot_states(name, [slot])[slot].startswith("done")


def test_scheduler_processes_killed_and_restarted_mid_day_post_each_slot_once(rt, redis_url):
    procs = []
    try:
        # two schedulers from 08:58, one fake minute per real second: only one may act
        procs = [_start(redis_url, "2020-08-14T08:58:00+08:00") for _ in range(2)]
        _wait_for(lambda: _slot_done(rt, "remind", "2020-08-14-0900"))
        time.sleep(1.5)
        for p in procs:
            p.send_signal(signal.SIGKILL)  # killed, not stopped: the lock is left to expire
            p.wait(10)
        # restarted mid-afternoon, after 17:30 was missed while none was running
        procs = [_start(redis_url, "2020-08-14T17:40:00+08:00")]
        _wait_for(lambda: _slot_done(rt, "rank", "2020-08-14-1730"))
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        # and once more, from before 09:00 again (a clock that starts early): nothing repeats
        dead = lock_holder(rt)
        procs = [_start(redis_url, "2020-08-14T08:59:30+08:00")]
        _wait_for(lambda: lock_holder(rt) not in ("", dead), timeout=15)
        time.sleep(3)
        procs[0].send_signal(signal.SIGTERM)
        assert procs[0].wait(10) == 0
        assert lock_holder(rt) == ""  # a clean stop releases the lock
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    ids = daily(queued(rt))
    assert sorted(ids) == [
        "escalate-2020-08-14-0900",
        "rank-2020-08-14-1730",
        "remind-2020-08-14-0900",
    ]
    work(rt)
    depts = departments(rt)
    reminders = [n for n in notices(rt) if n.kind in ("reminder", "escalation")]
    assert sorted(n.department for n in reminders) == sorted(depts)
    ranking = notices(rt, "ranking")
    assert sorted(n.department for n in ranking) == sorted(["", *depts])


@pytest.mark.parametrize("killed", ["after-claiming", "after-enqueueing"])
def test_a_scheduler_killed_inside_a_slot_sends_no_reminder_twice_and_loses_none(
    rt, redis_url, killed
):
    """kill -9 between claiming the 09:00 reminder slot and marking it done leaves the claim
    (until it expires: 120 s in production, 3 s here) and, when the kill came after the enqueue,
    a reminder job that has run already. A scheduler started again catches the slot up once it
    is free, enqueues the same job again, and every open department still gets one reminder."""
    slot = "2020-08-14-0900"
    (entry,) = [e for e in schedule_table(rt.settings) if e.name == "remind"]
    assert rt.store.scheduler.claim_slot("remind", slot, "killed-scheduler", ttl_s=3)
    if killed == "after-enqueueing":
        rt.services.enqueue(
            entry.job, job_id=job_id("remind", slot), retries=entry.retries, slot=slot,
            now_iso=local(2020, 8, 14, 9, 0).isoformat(),
        )  # fmt: skip
        work(rt)  # a worker ran it before anyone noticed the scheduler had died
        assert notices(rt)
    proc = _start(redis_url, "2020-08-14T09:00:30+08:00")
    try:
        time.sleep(1.5)
        assert rt.store.scheduler.slot_states("remind", [slot])[slot] == "claimed:killed-scheduler"
        _wait_for(lambda: _slot_done(rt, "remind", slot), timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "remind-2020-08-14-0900" in queued(rt)  # caught up: enqueued (again)
    work(rt)
    reminders = [n for n in notices(rt) if n.kind in ("reminder", "escalation")]
    assert sorted(n.department for n in reminders) == sorted(departments(rt))


def lock_holder(rt) -> str:
    """The token holding the scheduler's lock, "" when free."""
    return (rt.redis.get(rt.store.keys.lock("scheduler")) or b"").decode()
