"""The office's pages and the API for issue 12: the inspection day set from the overview
(audited), the ★ items apart, bonus evidence apart, and 涉密 material that the API (data
leaving the system) shows only as existing and where it is kept."""

from __future__ import annotations

import re
from datetime import date

from bot.messages import Incoming
from bot.progress import Material, Status
from bot.records import Change
from tests.http.conftest import API_TOKEN, csrf_of

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
SECRET_TITLE = "2020年舆情应对内部预案"
OLD_URL = "https://intranet.example.cn/yuqing.html"


def say(rt, user: str, text: str) -> str:
    return rt.dispatcher.handle(Incoming("sandbox", user, text, mentioned=True)).text


def test_the_overview_sets_the_inspection_day_and_shows_it_as_no_deadline(admin_client, web_rt):
    html = admin_client.get("/admin").get_data(as_text=True)
    events = re.search(
        r'<div class="grid" id="events">(.*?)</div>\s*<div class="card">', html, re.S
    )
    assert events and "自治区实地查验" in events.group(1) and "9月（具体日期待定）" in html
    token = csrf_of(admin_client, "/admin")
    resp = admin_client.post("/admin/inspection", data={"csrf": token, "day": "2020-09-15"})
    assert resp.status_code == 302
    assert web_rt.store.assignments.event_dates() == {"inspection": date(2020, 9, 15)}
    [entry] = [e for e in web_rt.store.audit.entries(20) if e.action == "event_date"]
    assert entry.actor == "web:admin" and entry.after == "2020-09-15"
    html = admin_client.get("/admin").get_data(as_text=True)
    assert "9月15日" in html and 'value="2020-09-15"' in html
    assert "已将自治区实地查验定于 2020年9月15日" in html  # the flashed reply
    log = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "查验日期" in log
    # a bad form changes nothing; clearing restores 「待定」
    before = web_rt.store.audit.length()
    admin_client.post("/admin/inspection", data={"csrf": token, "day": "next week"})
    assert web_rt.store.audit.length() == before
    admin_client.post("/admin/inspection", data={"csrf": token, "action": "clear"})
    assert web_rt.store.assignments.event_dates() == {}
    api = admin_client.get("/api/v1/overview", headers=AUTH).json
    assert api["phase"] == "running" and api["events"][0]["date"] is None
    assert api["events"][0]["when"] == "9月（具体日期待定）"


def test_star_items_apart_and_bonus_evidence_apart(admin_client, web_rt):
    assert "目前没有★整改项" in admin_client.get("/admin/rectification").get_data(as_text=True)
    token = csrf_of(admin_client, "/admin/indicators/4")
    admin_client.post("/admin/indicators/4/star", data={"csrf": token})
    say(web_rt, "zhangsan", "整改 4 已补充证明事项清单的法律依据")
    html = admin_client.get("/admin/rectification").get_data(as_text=True)
    card = re.search(r'<article class="card" id="star-4".*?</article>', html, re.S).group(0)
    row = re.search(r'<tr data-department="司法局">(.*?)</tr>', card, re.S).group(1)
    assert "已补充证明事项清单的法律依据" in row
    assert "尚未填写" in card  # the cooperating units have written nothing yet
    say(web_rt, "lisi", "提交 96 https://www.jinfeng.gov.cn/award.html 获奖证书")
    html = admin_client.get("/admin").get_data(as_text=True)
    assert "加分项（自愿申报，不计入排名）" in html and "行政审批局：第96项" in html
    detail = admin_client.get("/api/v1/indicators/96", headers=AUTH).json
    assert "行政审批局" in [a["department"] for a in detail["assignments"]]


def test_secret_material_reaches_the_api_only_as_existing_and_where(admin_client, web_rt):
    assert "涉密" in say(web_rt, "zhangsan", f"纸质 78 {SECRET_TITLE} 存放：机要室")
    a, raw = web_rt.store.assignments.get(78, "司法局")
    old = Material("预案全文", OLD_URL, "张三", web_rt.store.now_iso())
    after = a.changed("test", web_rt.store.now_iso(), materials=(*a.materials, old),
                      explanation="预案第三章", status=Status.IN_PROGRESS)  # fmt: skip
    web_rt.store.assignments.save(Change(raw, after, "test", "test", undo="keep"))
    for path in ("/api/v1/indicators/78", "/api/v1/assignments?department=司法局&indicator=78"):
        body = admin_client.get(path, headers=AUTH).get_data(as_text=True)
        assert SECRET_TITLE not in body and OLD_URL not in body and "预案第三章" not in body
        assert "涉密材料，现场查阅" in body and "机要室" in body
    items = admin_client.get("/api/v1/indicators/78", headers=AUTH).json["assignments"]
    mine = next(x for x in items if x["department"] == "司法局")
    assert [(m["title"], m["url"], m["secret"], m["location"]) for m in mine["materials"]] == [
        ("涉密材料，现场查阅", "", True, "机要室"),
        ("涉密材料，现场查阅", "", True, ""),
    ]
    # inside the system, the office's own page shows what it is
    page = admin_client.get("/admin/indicators/78").get_data(as_text=True)
    assert SECRET_TITLE in page and "存放：机要室" in page and "涉密" in page
