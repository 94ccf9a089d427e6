"""The one table of periodic jobs and the scheduler loop that runs it.

Times are cron-like and read in the campaign's zone (Asia/Shanghai), not UTC as RQ's own cron
would. Any number of scheduler processes may run: only the holder of a Redis lock acts, and
every slot is claimed with SET NX before its job is enqueued, so each slot runs once; a slot
missed while no scheduler was up is caught up once, later the same day.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler"
_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def job_id(*parts: object) -> str:
    """A deterministic RQ job id (RQ allows only [A-Za-z0-9_-]); other text is hashed."""
    out = []
    for p in parts:
        s = str(p)
        out.append(s if _SAFE.fullmatch(s) else "x" + hashlib.sha1(s.encode()).hexdigest()[:12])
    return "-".join(out)


def slot_key(local: datetime) -> str:
    """A slot's name from its local start: 2020-08-14-0900."""
    return local.strftime("%Y-%m-%d-%H%M")


# --- cron expressions ---------------------------------------------------------------------


def _field(spec: str, lo: int, hi: int) -> frozenset[int]:
    values: set[int] = set()
    for part in spec.split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            a_s, b_s = rng.split("-")
            a, b = int(a_s), int(b_s)
        else:
            a = int(rng)
            b = hi if step_s else a
        if not (lo <= a <= hi and lo <= b <= hi) or step < 1:
            raise ValueError(f"cron field {spec!r} out of range {lo}-{hi}")
        values.update(range(a, b + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """`minute hour day-of-month month day-of-week` (0 or 7 = Sunday), as in crontab(5)."""

    expr: str

    def __post_init__(self) -> None:
        parts = self.expr.split()
        if len(parts) != 5:
            raise ValueError(f"a cron expression has 5 fields: {self.expr!r}")
        dow = _field(parts[4], 0, 7)
        object.__setattr__(self, "_minutes", _field(parts[0], 0, 59))
        object.__setattr__(self, "_hours", _field(parts[1], 0, 23))
        object.__setattr__(self, "_doms", _field(parts[2], 1, 31))
        object.__setattr__(self, "_months", _field(parts[3], 1, 12))
        object.__setattr__(self, "_dows", frozenset(d % 7 for d in dow))
        object.__setattr__(self, "_any_dom", parts[2] == "*")
        object.__setattr__(self, "_any_dow", parts[4] == "*")

    def matches_day(self, d: date) -> bool:
        if d.month not in self._months:
            return False
        dom_ok = d.day in self._doms
        dow_ok = (d.isoweekday() % 7) in self._dows
        if self._any_dom or self._any_dow:  # crontab: when both are restricted, either matches
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def matches(self, local: datetime) -> bool:
        return (
            local.minute in self._minutes
            and local.hour in self._hours
            and self.matches_day(local.date())
        )

    def times_on(self, d: date, tz) -> list[datetime]:
        """Every slot of day `d`, as aware local datetimes, in order."""
        if not self.matches_day(d):
            return []
        return [
            datetime(d.year, d.month, d.day, h, m, tzinfo=tz)
            for h in sorted(self._hours)
            for m in sorted(self._minutes)
        ]


# --- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    name: str
    cron: str  # local time, see Cron
    job: str  # dotted path of an RQ job taking (slot, now_iso)
    workdays_only: bool = False  # skip weekends and holidays, run on 调休 Saturdays
    push: bool = False  # posts to chats: held back during quiet hours
    catch_up: bool = True  # a missed slot of today still runs (once) when the scheduler returns
    retries: int = 3
    # Safety nets of the machinery (drains, link checks) keep real minutes under a fast fake
    # clock: their slot follows the real clock, their job still gets the campaign's time.
    real_time: bool = False
    # One job id for every slot: while a run waits or works, the next slots add nothing (a
    # queue whose worker is slow or missing never fills up with copies).
    singleton: bool = False
    # One job per active campaign (its id as the job's `campaign` argument), not one for the
    # deployment: reminders, rankings, escalation, link checks, binding summaries.
    per_campaign: bool = False

    @property
    def schedule(self) -> Cron:
        return Cron(self.cron)


def _at(hhmm: str) -> str:
    h, m = hhmm.split(":")
    return f"{int(m)} {int(h)} * * *"


def schedule_table(settings) -> tuple[Entry, ...]:
    """The periodic jobs (reminders, escalation, ranking, safety nets, backup) at their times."""
    return (
        Entry(
            "linkcheck",
            "* * * * *",
            "bot.jobs.check_links",
            catch_up=False,
            retries=0,
            real_time=True,
            singleton=True,
            per_campaign=True,
        ),
        # A safety net: replies already request a prompt drain of the outbox after each change.
        Entry(
            "drain",
            "* * * * *",
            "bot.delivery_jobs.drain_outbox",
            catch_up=False,
            retries=0,
            real_time=True,
        ),
        # Summaries of a person's binding changes folded into one notice (bot.bindings); their
        # windows are counted on Redis's own clock, so the slot follows the real one too.
        Entry(
            "bindfold",
            "* * * * *",
            "bot.jobs.send_folded_bindings",
            catch_up=False,
            retries=0,
            real_time=True,
            per_campaign=True,
        ),
        # Likewise: the first callback of a burst enqueues a prompt drain of the inbox.
        Entry(
            "answer", "* * * * *", "bot.jobs.drain_inbox", catch_up=False, retries=0, real_time=True
        ),
        Entry(
            "remind",
            _at(settings.remind_at),
            "bot.jobs.send_reminders",
            True,
            True,
            per_campaign=True,
        ),  # fmt: skip
        Entry(
            "escalate",
            _at(settings.remind_at),
            "bot.jobs.send_escalations",
            True,
            True,
            per_campaign=True,
        ),  # fmt: skip
        Entry(
            "rank", _at(settings.rank_at), "bot.jobs.send_ranking", True, True, per_campaign=True
        ),
        # The daily backup follows real days (a fast demo clock would write one a minute).
        *(
            [Entry("backup", _at(settings.backup_at), "bot.jobs.back_up", real_time=True)]
            if settings.backup_keep
            else []
        ),
    )


# --- clocks ---------------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_clock(
    fake_now: str = "", speed: float = 1.0, anchor: float | None = None
) -> Callable[[], datetime]:
    """The real clock, or (tests, demos) one that reads `fake_now` at the real instant `anchor`
    (epoch seconds; this moment when None) and runs `speed` times faster than real time.
    Processes given the same anchor read the same time (bot.runtime.shared_clock)."""
    if not fake_now:
        return utc_now
    start = datetime.fromisoformat(fake_now).astimezone(UTC)
    if anchor is None:
        t0 = time.monotonic()
        return lambda: start + timedelta(seconds=(time.monotonic() - t0) * speed)
    return lambda: start + timedelta(seconds=(time.time() - anchor) * speed)


# --- the scheduler --------------------------------------------------------------------------


class Scheduler:
    """Runs the table. `store` is a RedisStore, `calendar` a WorkCalendar, `enqueue` the
    function of bot.queue.make_enqueue; `release_retries(now_ts)` moves RQ jobs whose retry
    time has come back onto the queue (RQ keeps retries with a delay in a scheduled registry).
    `campaigns`: the active campaigns, the default one first; a per-campaign entry's slot
    enqueues one job for each (the default one under the job id it always had)."""

    def __init__(
        self,
        store: Any,
        calendar: Any,
        enqueue: Callable[..., str],
        table: Iterable[Entry],
        clock: Callable[[], datetime] = utc_now,
        *,
        lock_ttl_ms: int = 5000,
        release_retries: Callable[[float], int] | None = None,
        token: str = "",
        real_clock: Callable[[], datetime] | None = None,
        campaigns: Iterable[str] = (),
    ):
        self.store = store
        self.campaigns = tuple(campaigns)
        # the clock of the real_time entries; by default the same as the campaign's
        self.real_clock = real_clock or clock
        self.calendar = calendar
        self.enqueue = enqueue
        self.table = tuple(table)
        self.crons = {e.name: e.schedule for e in self.table}
        self.clock = clock
        self.lock_ttl_ms = lock_ttl_ms
        self.release_retries = release_retries
        self.token = token or uuid.uuid4().hex
        self.is_leader = False
        self._done: set[tuple[str, str]] = set()  # (entry, slot) known done or skipped
        self._day: date | None = None

    def due_slots(self, entry: Entry, local: datetime) -> list[datetime]:
        cron = self.crons[entry.name]
        minute = local.replace(second=0, microsecond=0)
        if not entry.catch_up:
            return [minute] if cron.matches(minute) else []
        return [t for t in cron.times_on(local.date(), local.tzinfo) if t <= minute]

    def tick(self) -> list[str]:
        """One pass: renew the lock, then enqueue every due slot nobody has run; returns the
        ids of the jobs enqueued."""
        self.is_leader = self.store.scheduler.hold_lock(LOCK_NAME, self.token, self.lock_ttl_ms)
        if not self.is_leader:
            return []
        if self.release_retries is not None:
            self.release_retries(time.time())  # RQ's retry times are real time
        now = self.clock()
        local = self.calendar.local_now(now)
        today = local.date()
        real = (
            local if self.real_clock is self.clock else self.calendar.local_now(self.real_clock())
        )
        if today != self._day:
            self._done, self._day = set(), today
        started: list[str] = []
        for entry in self.table:
            at = real if entry.real_time else local
            slots = [
                slot_key(t)
                for t in self.due_slots(entry, at)
                if (entry.name, slot_key(t)) not in self._done
            ]
            if not slots:
                continue
            states = self.store.scheduler.slot_states(entry.name, slots)
            for slot in slots:
                jid = self._run_slot(entry, slot, states.get(slot, ""), today, now)
                if jid:
                    started.append(jid)
        return started

    def _run_slot(self, entry: Entry, slot: str, state: str, today: date, now: datetime) -> str:
        if state.startswith("done"):
            self._done.add((entry.name, slot))
            return ""
        if state:  # claimed by another scheduler just now; the claim expires if it died
            return ""
        if entry.workdays_only and not self.calendar.is_workday(today):
            self._done.add((entry.name, slot))
            return ""
        if entry.push and self.calendar.is_quiet(now):
            return ""  # held back; runs when quiet hours end, if that is still today
        if not self.store.scheduler.claim_slot(entry.name, slot, self.token):
            return ""
        at = now.astimezone(UTC).isoformat()
        jid = job_id(entry.name) if entry.singleton else job_id(entry.name, slot)
        if entry.per_campaign and self.campaigns:
            for n, cid in enumerate(self.campaigns):
                own = jid if n == 0 else f"{jid}-c-{cid}"  # the default first, its id as ever
                self.enqueue(
                    entry.job, job_id=own, retries=entry.retries, slot=slot, now_iso=at,
                    campaign=cid,
                )  # fmt: skip
        else:
            self.enqueue(entry.job, job_id=jid, retries=entry.retries, slot=slot, now_iso=at)
        self.store.scheduler.finish_slot(entry.name, slot, jid)
        self._done.add((entry.name, slot))
        log.info("slot %s %s: enqueued %s", entry.name, slot, jid)
        return jid

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Tick until `stop` is set; Redis trouble is logged (once per outage) and retried,
        never fatal."""
        failing = False
        try:
            while not stop.is_set():
                try:
                    self.tick()
                    if failing:
                        log.warning("scheduler ticks again")
                    failing = False
                except Exception:
                    if not failing:
                        log.exception("scheduler tick failed; retrying every %ss", interval)
                    failing = True
                    self.is_leader = False
                stop.wait(interval)
        finally:
            try:
                self.store.scheduler.release_lock(LOCK_NAME, self.token)
            except Exception:
                log.exception("could not release the scheduler lock")
