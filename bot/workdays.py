"""The Chinese working calendar (statutory holidays and 调休 make-up days) and quiet hours.

`WorkCalendar` answers "is this a working day", counts working days to a deadline and converts
UTC instants to the campaign's local time; it does no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import chinese_calendar

from bot.config import Settings

_ONE_DAY = dt.timedelta(days=1)


def _parse_dates(values: Iterable[str | dt.date], what: str) -> frozenset[dt.date]:
    out: set[dt.date] = set()
    for v in values:
        if isinstance(v, dt.datetime):
            raise ValueError(f"{what}: expected a date, got a date and time: {v!r}")
        if isinstance(v, dt.date):
            out.add(v)
            continue
        try:
            out.add(dt.date.fromisoformat(str(v).strip()))
        except ValueError:
            raise ValueError(f"{what}: not a date YYYY-MM-DD: {v!r}") from None
    return frozenset(out)


def _parse_hhmm(value: str) -> dt.time:
    h, m = value.strip().split(":")
    return dt.time(int(h), int(m))


class WorkCalendar:
    """Working days and quiet hours in one time zone.

    A day is a working day when `extra_workdays` lists it, not when `extra_holidays` lists it,
    and otherwise as `chinesecalendar` says (weekends, statutory holidays, 调休 make-up days).
    For a year the package has no data for, Monday to Friday are working days.

    Every `datetime` argument is an instant: aware ones are converted to the local zone, naive
    ones are taken as UTC (the project stores instants in UTC).
    """

    def __init__(
        self,
        *,
        tz: str = "Asia/Shanghai",
        extra_holidays: Iterable[str | dt.date] = (),
        extra_workdays: Iterable[str | dt.date] = (),
        quiet_start: str = "21:00",
        quiet_end: str = "08:00",
    ) -> None:
        self.tz = ZoneInfo(tz)
        self.extra_holidays = _parse_dates(extra_holidays, "extra_holidays")
        self.extra_workdays = _parse_dates(extra_workdays, "extra_workdays")
        both = sorted(self.extra_holidays & self.extra_workdays)
        if both:
            raise ValueError(
                "dates listed both as extra holiday and extra workday: "
                + ", ".join(d.isoformat() for d in both)
            )
        self.quiet_start = _parse_hhmm(quiet_start)
        self.quiet_end = _parse_hhmm(quiet_end)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkCalendar:
        return cls(
            tz=settings.tz,
            extra_holidays=settings.extra_holidays,
            extra_workdays=settings.extra_workdays,
            quiet_start=settings.quiet_start,
            quiet_end=settings.quiet_end,
        )

    # --- days ------------------------------------------------------------------------------

    def is_workday(self, d: dt.date) -> bool:
        if isinstance(d, dt.datetime):
            d = self.local_now(d).date()
        if d in self.extra_workdays:
            return True
        if d in self.extra_holidays:
            return False
        try:
            return chinese_calendar.is_workday(d)
        except NotImplementedError:
            # chinesecalendar only knows the years the State Council has published; later years
            # rely on extra_holidays / extra_workdays until the package is upgraded.
            return d.weekday() < 5

    def workdays_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]: after `start`, up to and including `end`.

        When `end` is before `start` the result is minus the working days in (end, start], so
        `workdays_between(a, b) == -workdays_between(b, a)`, and it is 0 when they are equal.
        """
        sign = 1
        if end < start:
            start, end, sign = end, start, -1
        count = 0
        d = start + _ONE_DAY
        while d <= end:
            if self.is_workday(d):
                count += 1
            d += _ONE_DAY
        return sign * count

    def workdays_left(self, today: dt.date, deadline: dt.date) -> int:
        """Working days from tomorrow up to and including the deadline day.

        0 on the deadline day itself (and on non-working days right before it with no working
        day in between); negative once it has passed: -n means n working days overdue.
        """
        return self.workdays_between(today, deadline)

    def add_workdays(self, d: dt.date, n: int) -> dt.date:
        """The n-th working day after `d` (before it when n < 0); `d` itself when n == 0.

        For n > 0, `workdays_between(d, add_workdays(d, n)) == n`.
        """
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        remaining = abs(n)
        while remaining:
            d += step
            if self.is_workday(d):
                remaining -= 1
        return d

    # --- instants --------------------------------------------------------------------------

    def local_now(self, now_utc: dt.datetime) -> dt.datetime:
        """The instant as an aware local datetime (naive input is taken as UTC)."""
        if now_utc.tzinfo is None:
            now_utc = now_utc.replace(tzinfo=dt.UTC)
        return now_utc.astimezone(self.tz)

    def local_today(self, now_utc: dt.datetime) -> dt.date:
        return self.local_now(now_utc).date()

    def is_quiet(self, at: dt.datetime) -> bool:
        """True inside quiet hours [quiet_start, quiet_end) local time.

        The window wraps midnight when quiet_start > quiet_end (21:00-08:00 is quiet from 21:00
        to 07:59); equal start and end means no quiet hours at all.
        """
        t = self.local_now(at).time().replace(tzinfo=None)
        start, end = self.quiet_start, self.quiet_end
        if start == end:
            return False
        if start < end:
            return start <= t < end
        return t >= start or t < end
