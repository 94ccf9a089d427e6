"""The office's review in chat (issue 10 item 9): approving anything but 已完成 asks first and
says why; returning an item nobody has started is refused; neither changes anything."""

from __future__ import annotations

from bot.progress import Status
from tests.store.test_commands import snapshot, state

URL = "https://www.jinfeng.gov.cn/a.html"


def asks_first(rt, admin, text: str, *why: str) -> None:
    before = snapshot(rt)
    out = admin(text)
    for needle in (*why, "本次没有通过", f"请发送「{text} 确认」"):
        assert needle in out, out
    assert snapshot(rt) == before


def test_approving_an_item_not_marked_done_asks_first_and_says_why(rt, sfj, admin):
    sfj(f"提交 12 {URL} 方案")
    asks_first(rt, admin, "通过 12 司法局", "司法局第12项还没有标记完成（目前是进行中）")
    rt.store.links.record(URL, {"ok": False, "status": 404, "error": "http_404"})
    asks_first(rt, admin, "通过 12 司法局", "且链接都打不开（1 个）")
    assert "已通过司法局第12项" in admin("通过 12 司法局 确认")
    assert state(rt, 12, "司法局").status is Status.APPROVED
    before = snapshot(rt)
    assert "司法局第12项已经审核通过，无需重复操作" in admin("通过 12 司法局 确认")
    assert snapshot(rt) == before


def test_approving_a_returned_or_not_applicable_item_asks_first(rt, sfj, admin):
    sfj("说明 12 见附件")
    admin("退回 12 司法局 缺少2019年台账")
    asks_first(rt, admin, "通过 12 司法局", "退回后还没有重新标记完成（退回原因：缺少2019年台账）")
    sfj("不涉及 1 我局无行政审批事项")
    asks_first(rt, admin, "通过 1 司法局", "标记的是不涉及（原因：我局无行政审批事项）")
    assert "已通过司法局第1项" in admin("通过 1 司法局 确认")


def test_an_item_marked_done_is_approved_at_once(rt, sfj, admin):
    sfj("说明 12 见附件")
    sfj("完成 12")
    assert "已通过司法局第12项" in admin("通过 12 司法局")
    assert state(rt, 12, "司法局").status is Status.APPROVED


def test_returning_an_untouched_item_is_refused(rt, sfj, admin):
    before = snapshot(rt)
    out = admin("退回 12 司法局 请尽快提交")
    assert "司法局第12项还没有开始，没有可以退回的材料" in out and "催办 司法局" in out
    assert snapshot(rt) == before


def test_anything_but_confirm_after_the_department_is_refused(rt, sfj, admin):
    sfj("说明 12 见附件")
    before = snapshot(rt)
    assert "部门后面只能写「确认」" in admin("通过 12 司法局 好的")
    assert snapshot(rt) == before
