"""The campaign's phases, its events and how a day's situation is said (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot import texts
from bot.reminders import is_readiness_day
from bot.timeline import ENDED, READINESS, RUNNING, Timeline
from bot.workdays import WorkCalendar

CAL = WorkCalendar()


def at(y: int, m: int, d: int, hh: int = 9) -> datetime:
    return datetime(y, m, d, hh, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


@pytest.fixture
def tl(catalog) -> Timeline:
    return Timeline(catalog.campaign)


def test_phases_follow_the_deadlines_and_the_inspection_window(tl):
    assert tl.phase(date(2020, 8, 13)) == RUNNING
    assert tl.phase(date(2020, 8, 31)) == RUNNING  # the last deadline itself
    assert tl.phase(date(2020, 9, 1)) == READINESS  # the inspection is no deadline
    assert tl.phase(date(2020, 9, 30)) == READINESS
    assert tl.phase(date(2020, 10, 1)) == ENDED
    assert tl.end == date(2020, 9, 30)
    assert tl.is_submit_open(date(2020, 8, 19)) and not tl.is_submit_open(date(2020, 8, 20))


def test_an_inspection_day_set_by_the_office_ends_the_campaign_that_day(catalog):
    tl = Timeline(catalog.campaign, {"inspection": date(2020, 9, 15)})
    ev = catalog.campaign.event("inspection")
    assert tl.event_date(ev) == date(2020, 9, 15)
    assert tl.event_span(ev) == (date(2020, 9, 15), date(2020, 9, 15))
    assert tl.end == date(2020, 9, 15)
    assert tl.phase(date(2020, 9, 15)) == READINESS
    assert tl.phase(date(2020, 9, 16)) == ENDED
    assert tl.next_event(date(2020, 9, 16)) is None


def test_the_day_said_in_one_line(catalog, tl):
    line = texts.deadline_line(CAL, tl, at(2020, 8, 14))
    assert line == "距「资料目录报送」截止（8月19日）还有 3 个工作日。"
    assert (
        texts.deadline_line(CAL, tl, at(2020, 8, 31))
        == "今天是「示范创建资料全面完成」截止日（8月31日）。"
    )
    # after the last deadline: the inspection to come, never as a deadline
    ready = texts.deadline_line(CAL, tl, at(2020, 9, 2))
    assert ready.startswith("自治区实地查验：9月（具体日期待定）。")
    assert "截止" not in ready and "逾期" not in ready and "已过" not in ready
    assert "存放位置" in ready
    set_day = Timeline(catalog.campaign, {"inspection": date(2020, 9, 15)})
    assert texts.deadline_line(CAL, set_day, at(2020, 9, 10)).startswith(
        "自治区实地查验定于 9月15日（还有 3 个工作日）。"
    )
    assert texts.deadline_line(CAL, set_day, at(2020, 9, 15)).startswith("今天是自治区实地查验日")
    assert (
        texts.deadline_line(CAL, tl, at(2020, 10, 9))
        == "本次创建活动已结束，感谢各部门的支持与配合。"
    )


def test_readiness_pushes_are_weekly_and_daily_just_before_a_set_day(catalog, tl):
    september = [date(2020, 9, d) for d in range(1, 31)]
    weekly = [d for d in september if is_readiness_day(CAL, tl, d)]
    # the first working day of each week (9/1 is a Tuesday: its week began on 8/31)
    assert weekly == [date(2020, 9, 7), date(2020, 9, 14), date(2020, 9, 21), date(2020, 9, 28)]
    set_day = Timeline(catalog.campaign, {"inspection": date(2020, 9, 17)})
    days = [d for d in september if is_readiness_day(CAL, set_day, d)]
    assert days == [
        date(2020, 9, 7),
        date(2020, 9, 14),
        date(2020, 9, 15),
        date(2020, 9, 16),
        date(2020, 9, 17),
        date(2020, 9, 21),
        date(2020, 9, 28),
    ]
