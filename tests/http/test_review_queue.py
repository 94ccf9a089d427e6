"""待审核 over HTTP: the queue (only 已完成 items, oldest first, filters, evidence inline), 通过
and 退回 one by one and in bulk through bot.office (each audited and told), the 返工期限 kept
with the assignment and counted down in 我的任务 and the reminder, and every refusal changing
nothing."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from bot.messages import Incoming
from bot.progress import Material, Status
from bot.records import Binding
from bot.reminders import send_reminders
from tests.e2e.background import set_status
from tests.http.conftest import csrf_of
from tests.outbox import read_outbox

ROW = re.compile(r'data-indicator="(\d+)" data-department="([^"]+)"')


def rows(client, query: str = "") -> list[tuple[int, str]]:
    html = client.get("/admin/review" + query).get_data(as_text=True)
    return [(int(i), d) for i, d in ROW.findall(html)]


def two_departments(rt) -> tuple[str, str]:
    depts = rt.assigned_departments()
    return depts[0], depts[1]


def items_of(rt, dept: str, n: int) -> list[int]:
    return sorted(i for (i, d) in rt.assignments if d == dept and i in rt.catalog.regular_ids)[:n]


@pytest.fixture
def done(web_rt, clock):
    """Three 已完成 items, marked an hour apart (A's first item oldest), one 进行中 item, and
    one evidence-rich 已完成 item: a dead link, a paper volume with its place, two-line text."""
    a, b = two_departments(web_rt)
    a1, a2, a3 = items_of(web_rt, a, 3)
    (b1,) = items_of(web_rt, b, 1)
    made = []
    for ind, dept in ((a1, a), (b1, b), (a2, a)):
        made.append((ind, dept))
        set_status(web_rt, ind, dept, Status.DONE)
        clock.now += timedelta(hours=1)
    url = "https://gov.example/dead"
    web_rt.store.links.record(url, {"ok": False, "status": 404, "error": "404"})
    mats = (
        Material("执法台账链接", url, "张三", web_rt.store.now_iso()),
        Material("2020年执法台账", "", "张三", web_rt.store.now_iso(), "档案室2号柜第3卷"),
    )
    set_status(web_rt, a3, a, Status.DONE, materials=mats, explanation="第一行\n第二行")
    made.append((a3, a))
    busy = items_of(web_rt, b, 2)[1]
    set_status(web_rt, busy, b, Status.IN_PROGRESS, explanation="在写")
    return {"a": a, "b": b, "done": made, "busy": (busy, b)}


def test_the_queue_holds_the_done_items_oldest_first_with_their_evidence(admin_client, done):
    listed = rows(admin_client)
    assert [r for r in listed if r in done["done"]] == done["done"]
    assert done["busy"] not in listed
    html = admin_client.get("/admin/review").get_data(as_text=True)
    assert "⚠ 无法打开" in html and "https://gov.example/dead" in html
    assert "存放：档案室2号柜第3卷" in html
    assert '<p class="typed explanation">第一行\n第二行</p>' in html  # line breaks kept (pre-wrap)


def test_filters_by_indicator_and_department(admin_client, done):
    a, b = done["a"], done["b"]
    assert {d for _, d in rows(admin_client, f"?department={a}")} == {a}
    ind = done["done"][1][0]
    assert all(i == ind for i, _ in rows(admin_client, f"?indicator={ind}"))
    assert (ind, b) in rows(admin_client, f"?indicator={ind}&department={b}")
    assert rows(admin_client, "?indicator=abc") == rows(admin_client)  # a bad filter: all


def test_bulk_approve_two_each_audited_and_told(admin_client, web_rt, done):
    (i1, d1), (i2, d2) = done["done"][:2]
    token = csrf_of(admin_client, "/admin/review")
    before = web_rt.store.audit.length()
    page = admin_client.post(
        "/admin/review",
        data={"csrf": token, "action": "approve", "item": [f"{i1}|{d1}", f"{i2}|{d2}"]},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "已通过 2 项，已通知相关部门。" in page
    assert (i1, d1) not in rows(admin_client) and (i2, d2) not in rows(admin_client)
    for ind, dept in ((i1, d1), (i2, d2)):
        assert web_rt.store.assignments.get(ind, dept)[0].status is Status.APPROVED
        (entry,) = web_rt.store.audit.entries(count=1, department=dept, action="approve")
        assert (entry.actor, entry.indicator) == ("web:admin", ind)
        told = [n.text for _, n, _ in read_outbox(web_rt.store) if n.department == dept]
        assert any(f"第{ind}项已通过依法治区办审核" in t for t in told)
    assert web_rt.store.audit.length() == before + 2


def test_return_one_with_a_rework_date_is_counted_down(admin_client, web_rt, done, clock):
    ind, dept = done["done"][0]
    token = csrf_of(admin_client, "/admin/review")
    reason = "缺少 2019 年台账\n请补充"
    page = admin_client.post(
        "/admin/review",
        data={
            "csrf": token,
            "action": "return",
            "item": f"{ind}|{dept}",
            "reason": reason,
            "rework": "2020-08-20",
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"已退回{dept}第{ind}项" in page
    a = web_rt.store.assignments.get(ind, dept)[0]
    assert (a.status, a.reason, a.rework) == (Status.RETURNED, reason, "2020-08-20")
    told = [n.text for _, n, _ in read_outbox(web_rt.store) if n.department == dept]
    assert any("返工期限：8月20日" in t for t in told)
    # 我的任务 of a member, on Friday 8-14: Monday to Thursday are 4 working days
    web_rt.store.bindings.set(
        "sandbox", "u-rework", None, Binding("sandbox", "u-rework", dept, "李四"), "test"
    )
    msg = Incoming("sandbox", "u-rework", "我的任务", mentioned=True, message_id="m-rework")
    reply = web_rt.dispatcher.handle(msg).text
    assert "返工期限 8月20日，还剩 4 个工作日" in reply
    msg = Incoming("sandbox", "u-rework", f"查看 {ind}", mentioned=True, message_id="m-view")
    assert "返工期限 8月20日，还剩 4 个工作日。" in web_rt.dispatcher.handle(msg).text
    clock.now = datetime(2020, 8, 17, 1, 0, tzinfo=clock.now.tzinfo)  # Monday 9:00
    send_reminders(web_rt, clock.now, "t", departments=[dept])
    told = [n.text for _, n, _ in read_outbox(web_rt.store) if n.department == dept]
    assert any(f"第{ind}项" in t and "返工期限 8月20日，还剩 3 个工作日" in t for t in told)
    # marked done again: the 返工期限 is over with the 退回
    set_status(web_rt, ind, dept, Status.DONE)
    assert web_rt.store.assignments.get(ind, dept)[0].rework == ""


def test_a_single_row_approve_from_its_own_button(admin_client, web_rt, done):
    ind, dept = done["done"][3]
    html = admin_client.get("/admin/review").get_data(as_text=True)
    assert f'name="item" value="{ind}|{dept}"' in html
    token = csrf_of(admin_client, "/admin/review")
    page = admin_client.post(
        "/admin/review",
        data={"csrf": token, "action": "approve", "item": f"{ind}|{dept}"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"已通过{dept}第{ind}项" in page
    assert (ind, dept) not in rows(admin_client)


def test_approving_an_item_not_done_is_refused_and_changes_nothing(admin_client, web_rt, done):
    ind, dept = done["busy"]
    ok_ind, ok_dept = done["done"][0]
    token = csrf_of(admin_client, "/admin/review")
    before = web_rt.store.audit.length()
    page = admin_client.post(
        "/admin/review",
        data={"csrf": token, "action": "approve", "item": [f"{ind}|{dept}"]},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"{dept}第{ind}项还没有标记完成（目前是进行中），不在待审核之列，没有通过。" in page
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.IN_PROGRESS
    assert web_rt.store.audit.length() == before
    # in a bulk with a 已完成 one: that one passes, the other is named and left
    page = admin_client.post(
        "/admin/review",
        data={"csrf": token, "action": "approve", "item": [f"{ind}|{dept}", f"{ok_ind}|{ok_dept}"]},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"已通过{ok_dept}第{ok_ind}项" in page and "不在待审核之列" in page
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.IN_PROGRESS
    assert web_rt.store.audit.length() == before + 1


@pytest.mark.parametrize(
    "form, said",
    [
        ({"action": "return", "reason": "  "}, "退回时请写明原因，本次没有退回任何事项。"),
        ({"action": "return", "reason": "缺", "rework": "8月"}, "返工期限的日期无法识别"),
        (
            {"action": "return", "reason": "缺", "rework": "2020-08-13"},
            "返工期限（8月13日）已经过去",
        ),
        ({"action": "approve", "item": []}, "请先勾选要审核的事项。"),
        ({"action": "approve", "item": ["x|y"]}, "所选事项无法识别"),
    ],
)
def test_bad_input_is_refused_in_chinese_and_changes_nothing(
    admin_client, web_rt, done, form, said
):
    ind, dept = done["done"][0]
    data = {"csrf": csrf_of(admin_client, "/admin/review"), "item": [f"{ind}|{dept}"], **form}
    before = web_rt.store.audit.length()
    page = admin_client.post("/admin/review", data=data, follow_redirects=True)
    assert said in page.get_data(as_text=True)
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.DONE
    assert web_rt.store.audit.length() == before


def test_without_the_csrf_token_nothing_is_reviewed(admin_client, web_rt, done):
    ind, dept = done["done"][0]
    resp = admin_client.post("/admin/review", data={"action": "approve", "item": f"{ind}|{dept}"})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.DONE


def test_the_api_returns_with_a_rework_date(web_client, web_rt, done):
    ind, dept = done["done"][0]
    auth = {"Authorization": "Bearer tok"}
    body = {"indicator": ind, "department": dept, "action": "return", "reason": "缺台账"}
    resp = web_client.patch("/api/v1/assignments", json={**body, "rework": "8月"}, headers=auth)
    assert resp.status_code == 400 and "YYYY-MM-DD" in resp.json["message"]
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.DONE
    resp = web_client.patch(
        "/api/v1/assignments", json={**body, "rework": "2020-08-20"}, headers=auth
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["assignment"]["rework"] == "2020-08-20"
    assert web_rt.store.assignments.get(ind, dept)[0].rework == "2020-08-20"


def test_the_indicator_page_returns_with_a_rework_date_too(admin_client, web_rt, done):
    ind, dept = done["done"][0]
    token = csrf_of(admin_client, f"/admin/indicators/{ind}")
    form = {"csrf": token, "department": dept, "action": "return", "reason": "缺台账"}
    page = admin_client.post(
        f"/admin/indicators/{ind}/review", data={**form, "rework": "明天"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "返工期限的日期无法识别" in page
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.DONE
    admin_client.post(f"/admin/indicators/{ind}/review", data={**form, "rework": "2020-08-21"})
    a = web_rt.store.assignments.get(ind, dept)[0]
    assert (a.status, a.rework) == (Status.RETURNED, "2020-08-21")
    html = admin_client.get(f"/admin/indicators/{ind}").get_data(as_text=True)
    assert '<span class="badge rework">返工期限 2020-08-21</span>' in html
