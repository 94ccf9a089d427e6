import datetime as dt

import pytest

from bot.config import Settings
from bot.workdays import WorkCalendar

D = dt.date


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar.from_settings(Settings())


def test_national_day_and_mid_autumn_2020_are_holidays(cal):
    for day in range(1, 9):
        assert not cal.is_workday(D(2020, 10, day)), day


def test_tiaoxiu_weekend_days_are_workdays(cal):
    assert D(2020, 9, 27).weekday() == 6  # a Sunday
    assert D(2020, 10, 10).weekday() == 5  # a Saturday
    assert cal.is_workday(D(2020, 9, 27))
    assert cal.is_workday(D(2020, 10, 10))


def test_ordinary_days(cal):
    assert cal.is_workday(D(2020, 8, 19))  # the submission deadline, a Wednesday
    assert not cal.is_workday(D(2020, 8, 15))  # Saturday
    assert not cal.is_workday(D(2020, 8, 16))  # Sunday


def test_countdown_to_the_submission_deadline(cal):
    # Thu 13 Aug -> Fri 14, Mon 17, Tue 18, Wed 19
    assert cal.workdays_between(D(2020, 8, 13), D(2020, 8, 19)) == 4
    assert cal.workdays_left(D(2020, 8, 13), D(2020, 8, 19)) == 4
    assert cal.workdays_left(D(2020, 8, 18), D(2020, 8, 19)) == 1
    assert cal.workdays_left(D(2020, 8, 19), D(2020, 8, 19)) == 0


def test_weekend_before_the_deadline_counts_nothing(cal):
    assert cal.workdays_left(D(2020, 8, 15), D(2020, 8, 17)) == 1
    assert cal.workdays_left(D(2020, 8, 15), D(2020, 8, 16)) == 0


def test_past_deadline_is_negative_and_antisymmetric(cal):
    assert cal.workdays_left(D(2020, 8, 21), D(2020, 8, 19)) == -2
    assert cal.workdays_between(D(2020, 8, 19), D(2020, 8, 13)) == -4
    for a, b in [(D(2020, 9, 25), D(2020, 10, 12)), (D(2020, 8, 1), D(2020, 8, 31))]:
        assert cal.workdays_between(a, b) == -cal.workdays_between(b, a)


def test_workdays_across_the_golden_week(cal):
    # Fri 25 Sep -> Sun 27 (调休), Mon 28, Tue 29, Wed 30, Fri 9 Oct, Sat 10 (调休), Mon 12
    assert cal.workdays_between(D(2020, 9, 25), D(2020, 10, 12)) == 7


def test_add_workdays(cal):
    assert cal.add_workdays(D(2020, 8, 13), 4) == D(2020, 8, 19)
    assert cal.add_workdays(D(2020, 9, 30), 1) == D(2020, 10, 9)
    assert cal.add_workdays(D(2020, 10, 9), 1) == D(2020, 10, 10)
    assert cal.add_workdays(D(2020, 10, 9), -1) == D(2020, 9, 30)
    assert cal.add_workdays(D(2020, 10, 3), 0) == D(2020, 10, 3)
    assert cal.add_workdays(D(2020, 9, 26), -7) == D(2020, 9, 17)
    for n in (1, 3, 7, 12):
        start = D(2020, 9, 26)
        assert cal.workdays_between(start, cal.add_workdays(start, n)) == n


def test_overrides_win_over_the_package():
    cal = WorkCalendar(extra_holidays=("2020-08-19",), extra_workdays=("2020-10-05",))
    assert not cal.is_workday(D(2020, 8, 19))
    assert cal.is_workday(D(2020, 10, 5))
    assert cal.workdays_between(D(2020, 8, 13), D(2020, 8, 19)) == 3


def test_overrides_from_settings():
    s = Settings().with_(extra_holidays=("2020-08-18",), extra_workdays=("2020-08-16",))
    cal = WorkCalendar.from_settings(s)
    assert not cal.is_workday(D(2020, 8, 18))
    assert cal.is_workday(D(2020, 8, 16))


def test_bad_or_conflicting_overrides_are_refused():
    with pytest.raises(ValueError, match="2020-13-01"):
        WorkCalendar(extra_holidays=("2020-13-01",))
    with pytest.raises(ValueError, match="2020-08-19"):
        WorkCalendar(extra_holidays=("2020-08-19",), extra_workdays=("2020-08-19",))


def test_unknown_year_falls_back_to_monday_to_friday():
    cal = WorkCalendar(extra_holidays=("2099-01-01",), extra_workdays=("2099-01-03",))
    assert D(2099, 1, 2).weekday() == 4  # Friday
    assert cal.is_workday(D(2099, 1, 2))
    assert not cal.is_workday(D(2099, 1, 4))  # Sunday
    assert not cal.is_workday(D(2099, 1, 1))  # Thursday, listed as holiday
    assert cal.is_workday(D(2099, 1, 3))  # Saturday, listed as workday
    assert cal.workdays_between(D(2098, 12, 31), D(2099, 1, 5)) == 3  # 2, 3, 5


def test_quiet_hours_wrap_midnight(cal):
    tz = dt.timezone(dt.timedelta(hours=8))
    quiet = [(21, 0), (23, 59), (0, 0), (3, 30), (7, 59)]
    loud = [(8, 0), (9, 0), (12, 0), (20, 59)]
    for h, m in quiet:
        assert cal.is_quiet(dt.datetime(2020, 8, 13, h, m, tzinfo=tz)), (h, m)
    for h, m in loud:
        assert not cal.is_quiet(dt.datetime(2020, 8, 13, h, m, tzinfo=tz)), (h, m)


def test_quiet_hours_use_local_time_for_utc_instants(cal):
    # 13:30 UTC is 21:30 in Shanghai; 01:00 UTC is 09:00
    assert cal.is_quiet(dt.datetime(2020, 8, 13, 13, 30, tzinfo=dt.UTC))
    assert not cal.is_quiet(dt.datetime(2020, 8, 13, 1, 0, tzinfo=dt.UTC))
    assert cal.is_quiet(dt.datetime(2020, 8, 13, 13, 30))  # naive means UTC


def test_quiet_hours_within_one_day_and_disabled():
    lunch = WorkCalendar(tz="UTC", quiet_start="12:00", quiet_end="13:30")
    assert lunch.is_quiet(dt.datetime(2020, 8, 13, 12, 0, tzinfo=dt.UTC))
    assert lunch.is_quiet(dt.datetime(2020, 8, 13, 13, 29, tzinfo=dt.UTC))
    assert not lunch.is_quiet(dt.datetime(2020, 8, 13, 13, 30, tzinfo=dt.UTC))
    assert not lunch.is_quiet(dt.datetime(2020, 8, 13, 23, 0, tzinfo=dt.UTC))
    never = WorkCalendar(quiet_start="08:00", quiet_end="08:00")
    assert not any(never.is_quiet(dt.datetime(2020, 8, 13, h, tzinfo=dt.UTC)) for h in range(24))


def test_local_today_and_now(cal):
    late_utc = dt.datetime(2020, 8, 18, 17, 0, tzinfo=dt.UTC)  # 01:00 on the 19th in Shanghai
    assert cal.local_today(late_utc) == D(2020, 8, 19)
    now = cal.local_now(late_utc)
    assert (now.hour, now.utcoffset()) == (1, dt.timedelta(hours=8))
    assert cal.local_today(dt.datetime(2020, 8, 18, 15, 59, tzinfo=dt.UTC)) == D(2020, 8, 18)
    assert cal.local_today(dt.datetime(2020, 8, 18, 16, 0)) == D(2020, 8, 19)


def test_datetime_given_to_is_workday_is_read_as_an_instant(cal):
    # Sunday 16:30 UTC is Monday 00:30 in Shanghai
    assert cal.is_workday(dt.datetime(2020, 8, 16, 16, 30, tzinfo=dt.UTC))
