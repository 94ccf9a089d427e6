"""The notice read closely (issue 12), in chat against the real Redis: the inspection day,
涉密 materials, where paper is kept, bonus and deduction items, ★ rectification, and a group
that belongs to a department."""

from __future__ import annotations

from datetime import date

import pytest

from tests.store.test_commands import snapshot


@pytest.fixture
def sfj(chat):
    c = chat("u-sfj", "张三")
    assert "已绑定到**司法局**" in c("绑定 司法局")
    return c


@pytest.fixture
def admin(chat):
    return chat("boss", "王主任", admin=True)


# --- the inspection day ------------------------------------------------------------------------


def test_the_office_sets_the_inspection_day_audited_and_everyone_sees_it(rt, sfj, admin, clock):
    assert "9月（具体日期待定）" in admin("查验日期")
    assert "定于 2020年9月15日" in admin("查验日期 9月15日")
    assert rt.store.event_dates() == {"inspection": date(2020, 9, 15)}
    [entry] = [e for e in rt.store.audit(20) if e.action == "event_date"]
    assert (entry.actor, entry.before, entry.after, entry.note) == (
        "console:boss",
        "",
        "2020-09-15",
        "inspection",
    )
    clock.set(2020, 9, 8, 2, 0)  # after the last deadline: the day is what 我的任务 says
    assert "自治区实地查验定于 9月15日（还有 5 个工作日）" in sfj("我的任务")
    assert "不在原定的9月内" in admin("查验日期 2020年10月9日")
    assert "已清除" in admin("查验日期 清除")
    assert rt.store.event_dates() == {}
    assert len([e for e in rt.store.audit(20) if e.action == "event_date"]) == 3


def test_bad_inspection_days_are_refused_and_change_nothing(rt, sfj, admin):
    before = snapshot(rt)
    assert "仅限依法治区办管理员" in sfj("查验日期 9月15日")
    assert "请写具体日期" in admin("查验日期 下周二")
    assert "请写具体日期" in admin("查验日期 9月31日")
    assert "已经过去" in admin("查验日期 8月1日")
    assert "尚未设置日期，无需清除" in admin("查验日期 清除")
    assert snapshot(rt) == before
