"""The domain rules (bot/rules.py) as plain functions: state in, Edit or UserError out, no I/O."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot import rules
from bot.catalog import Indicator
from bot.errors import UserError
from bot.paste import LinkGroup
from bot.progress import Assignment, Material, Role, Status

BY, AT = "dingtalk:u1", "2020-08-14T02:00:00+00:00"


def indicator(
    n: int = 12, kind: str = "regular", star: bool = False, evidence: str = ""
) -> Indicator:
    return Indicator(n, "一级", "二级", "三级内容", evidence or "提供制度文件。", None,
                     ("司法局",), ("财政局",), star, kind)  # fmt: skip


def assignment(
    status: Status = Status.TODO, n: int = 12, role: Role = Role.LEAD, **kw
) -> Assignment:
    return Assignment(n, "司法局", role, status, version=3, **kw)


def links(n: int) -> tuple[Material, ...]:
    return tuple(Material(f"材料{i}", f"https://a.gov.cn/{i}") for i in range(n))


# --- done ----------------------------------------------------------------------------------


def test_done_needs_a_material_or_an_explanation():
    with pytest.raises(UserError, match="还没有材料或说明"):
        rules.mark_done(assignment(), indicator(), starred=False, by=BY, at=AT)
    edit = rules.mark_done(
        assignment(Status.RETURNED, explanation="说明", reason="缺台账"),
        indicator(),
        starred=False,
        by=BY,
        at=AT,
    )
    assert (edit.after.status, edit.after.reason, edit.action) == (Status.DONE, "", "done")
    assert (edit.after.version, edit.after.updated_by, edit.after.updated_at) == (4, BY, AT)


def test_done_twice_or_after_approval_is_refused():
    for status, said in ((Status.DONE, "无需重复标记"), (Status.APPROVED, "已经审核通过")):
        a = assignment(status, materials=links(1))
        with pytest.raises(UserError, match=said):
            rules.mark_done(a, indicator(), starred=False, by=BY, at=AT)


def test_a_starred_item_needs_its_rectification_first():
    a = assignment(Status.IN_PROGRESS, materials=links(1))
    with pytest.raises(UserError, match="整改 12 整改情况"):
        rules.mark_done(a, indicator(), starred=True, by=BY, at=AT)
    done = rules.mark_done(
        replace(a, rectification="已整改"), indicator(), starred=True, by=BY, at=AT
    )
    assert done.after.status is Status.DONE


# --- 不涉及 --------------------------------------------------------------------------------


def test_a_lead_unit_cannot_say_not_applicable_but_a_cooperating_one_can():
    with pytest.raises(UserError, match="牵头单位"):
        rules.mark_not_applicable(assignment(), indicator(), "无此项", assigned=True, by=BY, at=AT)
    a = assignment(role=Role.COOPERATE)
    edit = rules.mark_not_applicable(a, indicator(), "无此项", assigned=True, by=BY, at=AT)
    assert (edit.after.status, edit.after.reason, edit.note) == (
        Status.NOT_APPLICABLE,
        "无此项",
        "无此项",
    )
    with pytest.raises(UserError, match="无需重复"):
        rules.mark_not_applicable(edit.after, indicator(), "无此项", assigned=True, by=BY, at=AT)


def test_a_bonus_item_nobody_gave_us_needs_no_not_applicable():
    bonus = indicator(101, kind="bonus")
    a = assignment(n=101, role=Role.COOPERATE)
    with pytest.raises(UserError, match="加分项"):
        rules.mark_not_applicable(a, bonus, "无", assigned=False, by=BY, at=AT)
    # a lead unit may say it has nothing for a bonus item it was given
    lead = assignment(n=101)
    assert rules.mark_not_applicable(lead, bonus, "无", assigned=True, by=BY, at=AT).after.reason


# --- materials -----------------------------------------------------------------------------


def test_links_are_added_once_and_named_in_order():
    a = assignment(Status.APPROVED, materials=links(1))
    group = LinkGroup("台账", ("https://a.gov.cn/0", "https://b.gov.cn/1", "https://b.gov.cn/2"))
    edit = rules.add_links(a, indicator(), (group,), who="张三", by=BY, at=AT)
    added = edit.after.materials[1:]
    assert [(m.title, m.url, m.added_by) for m in added] == [
        ("台账（1）", "https://b.gov.cn/1", "张三"),
        ("台账（2）", "https://b.gov.cn/2", "张三"),
    ]
    assert edit.link_urls == ("https://b.gov.cn/1", "https://b.gov.cn/2")
    # what the office approved has changed: it awaits review again
    assert edit.after.status is Status.DONE
    with pytest.raises(UserError, match="无需重复提交"):
        rules.add_links(edit.after, indicator(), (group,), who="张三", by=BY, at=AT)


def test_links_and_paper_stop_at_max_materials_with_one_sentence():
    full = f"第12项最多 {rules.MAX_MATERIALS} 份材料，请先删除不需要的材料。"
    almost = assignment(Status.IN_PROGRESS, materials=links(rules.MAX_MATERIALS - 1))
    one, two = LinkGroup("", ("https://n.gov.cn/1",)), LinkGroup("", ("https://n.gov.cn/2",))
    edit = rules.add_links(almost, indicator(), (one,), who="", by=BY, at=AT)
    assert len(edit.after.materials) == rules.MAX_MATERIALS
    with pytest.raises(UserError) as e:
        rules.add_links(almost, indicator(), (one, two), who="", by=BY, at=AT)
    assert str(e.value) == full
    with pytest.raises(UserError) as e:
        rules.add_paper(edit.after, indicator(), "案卷", "", who="", by=BY, at=AT)
    assert str(e.value) == full
    assert rules.add_paper(almost, indicator(), "案卷", "", who="", by=BY, at=AT).after.materials


def test_secret_material_is_paper_with_a_place_never_a_link():
    secret = indicator(evidence="提供执法案卷（涉密）。")
    with pytest.raises(UserError, match="涉密材料不能提交网址"):
        rules.add_links(
            assignment(), secret, (LinkGroup("", ("https://a.gov.cn/x",)),), who="", by=BY, at=AT
        )
    with pytest.raises(UserError, match="存放位置"):
        rules.add_paper(assignment(), secret, "案卷", "", who="", by=BY, at=AT)
    kept = rules.add_paper(assignment(), secret, "案卷", "机要室", who="", by=BY, at=AT)
    assert kept.after.materials[-1].secret and kept.after.materials[-1].location == "机要室"
    with pytest.raises(UserError, match="无需重复登记"):
        rules.add_paper(kept.after, indicator(), "案卷", "", who="", by=BY, at=AT)


def test_delete_takes_the_numbered_material_and_says_what_went():
    a = assignment(Status.APPROVED, materials=links(2))
    for bad in (0, 3):
        with pytest.raises(UserError, match="序号应为 1–2"):
            rules.delete_material(a, indicator(), bad, by=BY, at=AT)
    edit = rules.delete_material(a, indicator(), 2, by=BY, at=AT)
    assert [m.title for m in edit.after.materials] == ["材料0"]
    assert (edit.note, edit.after.status) == ("https://a.gov.cn/1", Status.DONE)
    emptied = rules.delete_material(edit.after, indicator(), 1, by=BY, at=AT)
    assert emptied.after.status is Status.TODO
    with pytest.raises(UserError, match="还没有材料"):
        rules.delete_material(emptied.after, indicator(), 1, by=BY, at=AT)


# --- undo ----------------------------------------------------------------------------------


def test_undo_restores_the_state_before_with_a_newer_version():
    before = assignment(Status.IN_PROGRESS, materials=links(1))
    now = assignment(Status.DONE, materials=links(1))
    now = replace(now, version=7)
    top = json.dumps({"by": BY, "admin": False, "action": "done", "before": before.to_json()})
    edit = rules.undo_last(now, indicator(), top, by=BY, at=AT)
    assert (edit.after.status, edit.after.version, edit.undo, edit.note) == (
        Status.IN_PROGRESS,
        8,
        "pop",
        "done",
    )


def test_undo_refuses_nothing_to_undo_and_the_offices_review():
    with pytest.raises(UserError, match="没有可以撤销"):
        rules.undo_last(assignment(), indicator(), None, by=BY, at=AT)
    top = json.dumps({"by": "web:admin", "admin": True, "action": "approve", "before": "{}"})
    with pytest.raises(UserError, match="依法治区办的审核"):
        rules.undo_last(assignment(Status.APPROVED), indicator(), top, by=BY, at=AT)


# --- review --------------------------------------------------------------------------------


def test_approve_a_done_item_tells_the_department():
    edit = rules.approve(
        assignment(Status.DONE, materials=links(1)), indicator(), confirmed=False, links=dict,
        by="web:admin", at=AT,
    )  # fmt: skip
    assert (edit.after.status, edit.action) == (Status.APPROVED, "approve")
    (notice,) = edit.notices
    assert (notice.department, notice.kind) == ("司法局", "review")
    assert "第12项已通过" in notice.text


def test_approve_anything_else_needs_confirmation_naming_the_doubt():
    a = assignment(Status.IN_PROGRESS, materials=links(2))
    dead = {"https://a.gov.cn/0": {"ok": False}, "https://a.gov.cn/1": {"ok": True}}
    with pytest.raises(rules.NeedsConfirmation) as e:
        rules.approve(a, indicator(), confirmed=False, links=lambda: dead, by=BY, at=AT)
    assert e.value.doubt == "还没有标记完成（目前是进行中），且 1 个链接打不开"
    assert "通过 12 司法局 确认" in str(e.value)
    ok = rules.approve(a, indicator(), confirmed=True, links=lambda: dead, by=BY, at=AT)
    assert ok.after.status is Status.APPROVED
    with pytest.raises(UserError, match="尚无任何材料") as e:
        rules.approve(assignment(), indicator(), confirmed=True, links=dict, by=BY, at=AT)
    assert not isinstance(e.value, rules.Unchanged)
    with pytest.raises(rules.Unchanged, match="无需重复操作"):
        rules.approve(ok.after, indicator(), confirmed=True, links=dict, by=BY, at=AT)


def test_return_keeps_the_reason_as_written_and_mentions_the_liaisons():
    reason = "缺少2019年台账；\n请补充 通过 12 司法局"
    a = assignment(Status.DONE, materials=links(1))
    edit = rules.return_item(a, indicator(), reason, mentions=("u7",), by=BY, at=AT)
    assert (edit.after.status, edit.after.reason, edit.note) == (Status.RETURNED, reason, reason)
    assert edit.notices[0].mentions == ("u7",)
    with pytest.raises(rules.Unchanged, match="同样的原因"):
        rules.return_item(edit.after, indicator(), reason, by=BY, at=AT)
    with pytest.raises(UserError, match="没有可以退回"):
        rules.return_item(assignment(), indicator(), reason, by=BY, at=AT)
    with pytest.raises(UserError, match="请写明退回原因"):
        rules.return_item(a, indicator(), "  ", by=BY, at=AT)


def test_star_toggles_or_sets_and_says_when_nothing_changes():
    assert rules.star(False) is True
    assert rules.star(True) is False
    assert rules.star(True, wanted=True) is None
    assert rules.star(False, wanted=True) is True


# --- the store's record of an edit ---------------------------------------------------------


def test_to_change_marks_the_offices_edits_and_the_moment_completion_changed(catalog):
    regular = next(i for i in catalog.indicators.values() if i.is_regular)
    bonus = next(i for i in catalog.indicators.values() if i.kind == "bonus")
    for ind, reached in ((regular, AT), (bonus, "")):
        a = assignment(Status.DONE, n=ind.id, materials=links(1))
        edit = rules.approve(a, ind, confirmed=False, links=dict, by="web:admin", at=AT)
        ch = rules.to_change(a, a.to_json(), edit, "web:admin", True, catalog)
        # approved after done: both complete, so the ranking's moment does not move
        assert ch.reached_at == ""
        back = rules.return_item(a, ind, "缺", by="web:admin", at=AT)
        ch = rules.to_change(a, a.to_json(), back, "web:admin", True, catalog)
        assert ch.reached_at == reached
        assert json.loads(ch.undo_entry) == {
            "by": "web:admin",
            "admin": True,
            "action": "return",
            "before": a.to_json(),
        }
        assert (ch.notices, ch.note, ch.action) == (back.notices, "缺", "return")


# --- texts and places ----------------------------------------------------------------------


def test_explain_and_rectify_replace_their_text_once():
    a = assignment(Status.APPROVED, materials=links(1), explanation="旧")
    edit = rules.explain(a, indicator(), "新的说明", by=BY, at=AT)
    assert (edit.after.explanation, edit.after.status, edit.action) == (
        "新的说明",
        Status.DONE,
        "explain",
    )
    with pytest.raises(rules.Unchanged):
        rules.explain(edit.after, indicator(), "新的说明", by=BY, at=AT)
    with pytest.raises(UserError, match="不是★整改项"):
        rules.rectify(assignment(), indicator(), "已整改", starred=False, by=BY, at=AT)
    fixed = rules.rectify(assignment(), indicator(), "已整改", starred=True, by=BY, at=AT)
    assert (fixed.after.rectification, fixed.after.status) == ("已整改", Status.IN_PROGRESS)
    with pytest.raises(rules.Unchanged):
        rules.rectify(fixed.after, indicator(), "已整改", starred=True, by=BY, at=AT)


def test_a_place_is_for_paper_only():
    paper = Material("案卷", "", "张三", AT)
    a = assignment(Status.IN_PROGRESS, materials=(*links(1), paper))
    with pytest.raises(UserError, match="网上链接"):
        rules.place_material(a, indicator(), 1, "档案室", by=BY, at=AT)
    with pytest.raises(UserError, match="序号应为 1–2"):
        rules.place_material(a, indicator(), 3, "档案室", by=BY, at=AT)
    edit = rules.place_material(a, indicator(), 2, "档案室", by=BY, at=AT)
    assert (edit.after.materials[1].location, edit.note) == ("档案室", "档案室")
    assert edit.after.status is Status.IN_PROGRESS
    with pytest.raises(rules.Unchanged):
        rules.place_material(edit.after, indicator(), 2, "档案室", by=BY, at=AT)


def test_only_a_deduction_item_is_declared():
    with pytest.raises(UserError, match="不是减分项"):
        rules.declare(assignment(), indicator(), "本单位无此情形。", by=BY, at=AT)
    deduction = indicator(98, kind="deduction")
    a = assignment(n=98, role=Role.COOPERATE)
    edit = rules.declare(a, deduction, "本单位无此情形。", by=BY, at=AT)
    assert (edit.after.status, edit.after.explanation, edit.note) == (
        Status.DONE,
        "本单位无此情形。",
        "本单位无此情形。",
    )
    with pytest.raises(rules.Unchanged):
        rules.declare(edit.after, deduction, "本单位无此情形。", by=BY, at=AT)


# --- the inspection's day ------------------------------------------------------------------


def test_the_inspection_day_is_set_in_the_future_once_and_cleared_once(catalog):
    from datetime import date

    campaign, today = catalog.campaign, date(2020, 8, 14)
    with pytest.raises(UserError, match="8月13日已经过去"):
        rules.set_inspection_day(campaign, {}, date(2020, 8, 13), today)
    change = rules.set_inspection_day(campaign, {}, date(2020, 9, 15), today)
    assert (change.key, change.expected, change.day) == ("inspection", None, date(2020, 9, 15))
    assert change.message.startswith("已将自治区实地查验定于 2020年9月15日。")
    set_ = {"inspection": date(2020, 9, 15)}
    with pytest.raises(rules.Unchanged, match="已定于 9月15日"):
        rules.set_inspection_day(campaign, set_, date(2020, 9, 15), today)
    late = rules.set_inspection_day(campaign, set_, date(2020, 10, 9), today)
    assert late.expected == date(2020, 9, 15) and "不在原定的9月内" in late.message
    cleared = rules.set_inspection_day(campaign, set_, None, today)
    assert (cleared.expected, cleared.day) == (date(2020, 9, 15), None)
    with pytest.raises(rules.Unchanged, match="尚未设置日期"):
        rules.set_inspection_day(campaign, {}, None, today)


# --- 返工期限 ------------------------------------------------------------------------------


def test_return_with_a_rework_date_keeps_it_and_tells_it():
    from datetime import date

    a = assignment(Status.DONE, explanation="说明")
    edit = rules.return_item(
        a, indicator(), "缺台账", rework=date(2020, 8, 20), today=date(2020, 8, 14), by=BY, at=AT
    )
    assert (edit.after.status, edit.after.rework) == (Status.RETURNED, "2020-08-20")
    assert "返工期限：8月20日" in edit.notices[0].text
    assert json.loads(edit.after.to_json())["due"] == "2020-08-20"
    assert Assignment.from_json(12, "司法局", edit.after.to_json()).rework == "2020-08-20"
    # the same reason with another date is a change, not a repeat
    again = rules.return_item(
        edit.after, indicator(), "缺台账", rework=date(2020, 8, 21), today=date(2020, 8, 14),
        by=BY, at=AT,
    )  # fmt: skip
    assert again.after.rework == "2020-08-21"
    with pytest.raises(rules.Unchanged):
        rules.return_item(
            again.after, indicator(), "缺台账", rework=date(2020, 8, 21), by=BY, at=AT
        )


def test_a_rework_date_in_the_past_is_refused():
    from datetime import date

    with pytest.raises(UserError, match=r"返工期限（8月13日）已经过去"):
        rules.return_item(
            assignment(Status.DONE, explanation="说明"), indicator(), "缺台账",
            rework=date(2020, 8, 13), today=date(2020, 8, 14), by=BY, at=AT,
        )  # fmt: skip


def test_the_rework_date_ends_when_the_item_leaves_returned():
    a = assignment(Status.RETURNED, explanation="说明", reason="缺台账", rework="2020-08-20")
    done = rules.mark_done(a, indicator(), starred=False, by=BY, at=AT)
    assert done.after.rework == ""
    # an edit that keeps it returned keeps the date
    edited = rules.explain(a, indicator(), "新说明", by=BY, at=AT)
    assert (edited.after.status, edited.after.rework) == (Status.RETURNED, "2020-08-20")


def test_rework_note_counts_working_days():
    from datetime import date

    from bot import texts
    from bot.workdays import WorkCalendar

    cal = WorkCalendar()
    friday = date(2020, 8, 14)
    assert texts.rework_note(cal, friday, "2020-08-20") == "返工期限 8月20日，还剩 4 个工作日"
    assert texts.rework_note(cal, friday, "2020-08-14") == "返工期限 8月14日，今天到期"
    assert texts.rework_note(cal, friday, "2020-08-12") == "返工期限 8月12日，已过期 2 天"
    assert texts.rework_note(cal, friday, "") == ""
