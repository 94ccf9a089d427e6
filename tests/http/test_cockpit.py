"""The cockpit over HTTP: who is behind (order, ties, reasons), the department page, the 催办
cool-down shared with chat, burn-up charts from the audit log, the matrix's focus."""

from __future__ import annotations

import re
from collections import defaultdict

from bot.messages import Incoming
from bot.progress import Material, Role, Status
from bot.web import cockpit
from tests.e2e.background import set_status
from tests.http.conftest import csrf_of

ROW = re.compile(
    r'<li data-department="([^"]+)" data-rank="(\d+)" data-points="(\d+)">', re.UNICODE
)


def behind_rows(client) -> list[tuple[str, int, int]]:
    html = client.get("/admin").get_data(as_text=True)
    return [(d, int(r), int(p)) for d, r, p in ROW.findall(html)]


def say(rt, user: str, text: str, admin: bool = False) -> str:
    n = rt.store.audit.length()
    msg = Incoming(
        "sandbox", user, text, mentioned=True, message_id=f"c-{n}-{text}", is_admin=admin
    )
    return rt.dispatcher.handle(msg).text


def twins(rt) -> tuple[str, str]:
    """Two departments with the same assignments (roles included), nobody bound to either."""
    shape = defaultdict(set)
    for (i, d), role in rt.assignments.items():
        if i in rt.catalog.regular_ids:
            shape[d].add((i, role))
    seen: dict[frozenset, str] = {}
    bound = {b.department for b in rt.store.bindings.all()}
    for d in rt.assigned_departments():
        if d in bound:
            continue
        key = frozenset(shape[d])
        if key in seen:
            return seen[key], d
        seen[key] = d
    raise AssertionError("no two departments share their assignments")


def test_most_behind_first_with_shared_ranks_for_ties(admin_client, web_rt):
    rows = behind_rows(admin_client)
    assert len(rows) == len(web_rt.assigned_departments())
    points = [p for _, _, p in rows]
    assert points == sorted(points, reverse=True)
    for i, (_, rank, p) in enumerate(rows):  # 1, 2, 2, 4: equal points, equal rank
        assert rank == (rows[i - 1][1] if i and rows[i - 1][2] == p else i + 1)
    a, b = twins(web_rt)
    where = {d: (rank, p, i) for i, (d, rank, p) in enumerate(rows)}
    assert where[a][:2] == where[b][:2]  # the same shape: a shared rank ...
    assert where[a][2] < where[b][2]  # ... listed in org.yaml order
    page = admin_client.get("/admin").get_data(as_text=True)
    assert "同分并列同一名次" in page and "未完成事项的权重" in page


def test_returned_items_and_dead_links_put_a_department_behind_its_twin(admin_client, web_rt):
    a, b = twins(web_rt)
    ind = min(i for (i, d) in web_rt.assignments if d == b and i in web_rt.catalog.regular_ids)
    set_status(web_rt, ind, b, Status.RETURNED, reason="缺少2019年台账")
    url = "https://www.example.gov.cn/gone.html"
    other = sorted(i for (i, d) in web_rt.assignments if d == a)[1]
    set_status(web_rt, other, a, Status.IN_PROGRESS, materials=(Material("公示", url),))
    web_rt.store.links.record(url, {"ok": False, "status": 404, "error": "http_404"})
    got = {d: (rank, p) for d, rank, p in behind_rows(admin_client)}
    # b: one item returned (3 points on top of its weight); a: one dead link (2)
    assert got[b][1] - got[a][1] == 1 and got[b][0] < got[a][0]
    page = admin_client.get("/admin").get_data(as_text=True)
    assert "退回 1 项" in page and "失效链接 1 个" in page


def test_completing_work_moves_a_department_down_and_activity_counts(admin_client, web_rt):
    before = {d: p for d, _, p in behind_rows(admin_client)}
    dept = "司法局"  # 张三 is its liaison
    ind = min(i for (i, d), r in web_rt.assignments.items() if d == dept and r is Role.LEAD)
    assert "已保存" in say(web_rt, "zhangsan", f"说明 {ind} 已按要求制定方案")
    assert "已标记完成" in say(web_rt, "zhangsan", f"完成 {ind}")
    after = {d: p for d, _, p in behind_rows(admin_client)}
    # a lead item (weight 2) is done, and 司法局 did something today (1 idle day less)
    assert before[dept] - after[dept] == 3


def test_department_page(admin_client, web_rt):
    dept = "司法局"
    resp = admin_client.get(f"/admin/departments/{dept}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "张三" in html and "联络员" in html and "王五" in html
    assert 'id="dept-burnup"' in html and "<script" not in html.split("</main>")[0]
    assert "未开始" in html and 'id="remind-dept"' in html
    assert f"/admin/matrix?focus={dept}" in html or "focus=%E5%8F%B8" in html


def test_an_unknown_department_is_a_chinese_404(admin_client):
    resp = admin_client.get("/admin/departments/不存在局")
    assert resp.status_code == 404
    assert "没有找到部门「不存在局」" in resp.get_data(as_text=True)


def test_remind_button_cools_down_and_shares_it_with_the_chat_command(admin_client, web_rt):
    dept = "司法局"
    page = f"/admin/departments/{dept}"
    token = csrf_of(admin_client, page)
    form = {"csrf": token, "department": dept, "back": page}
    html = admin_client.post("/admin/remind", data=form, follow_redirects=True).get_data(
        as_text=True
    )
    assert "已安排向司法局推送催办提醒" in html
    assert 'id="remind-cooldown"' in html and "60 分钟后可再次催办" in html
    again = admin_client.post("/admin/remind", data=form, follow_redirects=True)
    assert "司法局已于 10:00 催办过" in again.get_data(as_text=True)
    assert "司法局已于 10:00 催办过" in say(web_rt, "admin", "催办 司法局", admin=True)
    web_rt.store.clock.now = web_rt.store.clock().replace(hour=3, minute=1)  # 11:01 local
    html = admin_client.get(page).get_data(as_text=True)
    assert 'id="remind-cooldown"' not in html


def test_burnup_is_replayed_from_the_audit_log(admin_client, web_rt):
    clock = web_rt.store.clock
    dept = "司法局"
    ids = sorted(
        i for (i, d) in web_rt.assignments if d == dept and i in web_rt.catalog.regular_ids
    )
    for i in ids[:3]:
        set_status(web_rt, i, dept, Status.DONE)
    clock.now = clock().replace(day=16)  # two days later
    for i in ids[3:5]:
        set_status(web_rt, i, dept, Status.DONE)
    whole, per = cockpit.burnups(web_rt)
    s = per[dept]
    assert len(s.done) == 4  # 13, 14, 15 and 16 August
    w = cockpit.weights(web_rt)
    first = sum(w[(i, dept)] for i in ids[:3])
    assert s.done == (0, first, first, first + sum(w[(i, dept)] for i in ids[3:5]))
    assert whole.done[-1] == s.done[-1]
    html = admin_client.get(f"/admin/departments/{dept}").get_data(as_text=True)
    assert f"截至今天完成 {round(100 * s.done[-1] / s.total)}%" in html
    assert 'id="district-burnup"' in admin_client.get("/admin").get_data(as_text=True)


def test_matrix_focus_and_phone_list(admin_client, web_rt):
    dept = "行政审批局"
    html = admin_client.get(f"/admin/matrix?focus={dept}").get_data(as_text=True)
    assert re.search(rf'<tr id="d-\w+" data-department="{dept}" class="focus">', html)
    assert re.search(
        rf'<details class="mrow focus" id="l-\w+" data-department="{dept}" open>', html
    )
    filtered = admin_client.get(f"/admin/matrix?focus={dept}&status=returned").get_data(
        as_text=True
    )
    assert 'id="matrix-empty"' in filtered  # nothing returned yet: the filter still applies
    assert admin_client.get("/admin/matrix?focus=<b>x</b>").status_code == 200


def test_the_api_gives_the_same_order(admin_client, web_client, web_rt):
    from tests.http.conftest import API_TOKEN

    page = behind_rows(admin_client)
    resp = web_client.get("/api/v1/behind", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert resp.status_code == 200
    api = [(r["department"], r["rank"], r["points"]) for r in resp.json["departments"]]
    assert api == page and resp.json["next"]["key"] == "submit"


def test_a_large_matrix_lists_only_the_focused_departments_items(admin_client, monkeypatch):
    """Past MATRIX_LIST_ALL departments the phone list links to each department's items
    instead of carrying them all; the links keep the filters."""
    from bot.web import admin

    monkeypatch.setattr(admin, "MATRIX_LIST_ALL", 10)
    html = admin_client.get("/admin/matrix?status=todo&focus=司法局").get_data(as_text=True)
    lists = re.findall(r'<details class="mrow[^"]*" id="l-\w+" data-department="([^"]+)"', html)
    assert lists == ["司法局"]
    link = re.search(r'<a class="mrow" id="l-\w+" data-department="民政局" href="([^"]+)"', html)
    assert link and "status=todo" in link.group(1) and "focus=%E6%B0%91" in link.group(1)
    monkeypatch.setattr(admin, "MATRIX_LIST_ALL", 150)
    html = admin_client.get("/admin/matrix?status=todo").get_data(as_text=True)
    assert '<a class="mrow"' not in html
