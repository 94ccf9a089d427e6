"""The indicator page's unit cards are built in Python (bot/web/indicator_cards.py) with the
markup the Jinja loop wrote: for the demo campaign, with every kind of unit state, material,
link check and comment, the page is the same, character for character, as the page the old
view and template (tests/http/indicator_before.html, the template before the change) render
for the same session."""

from __future__ import annotations

from pathlib import Path

from flask import render_template_string

from bot import office
from bot.filestore import StoredFile
from bot.progress import Material, Role, Status
from bot.records import Change
from bot.web import views
from bot.web.common import runtime
from bot.web.history import recent as recent_history

BEFORE = (Path(__file__).parent / "indicator_before.html").read_text(encoding="utf-8")
AT = "2020-08-14T02:00:00.000Z"
EVIL = "<b>\"甲\" & '乙'</b>"


def before_view(ind_id: int):
    """admin.indicator as it was: the cards rendered by the template's loop and macros."""
    rt = runtime()
    ind = rt.catalog.get(ind_id)
    history = recent_history(rt, 200, indicator=ind_id)
    d = views.indicator_detail(rt, ind)
    return render_template_string(
        BEFORE,
        d=d,
        threads=rt.store.comments.threads((ind_id, a["department"]) for a in d["assignments"]),
        history=[views.audit_dict(e) for e in history],
        prev_id=ind_id - 1 if rt.catalog.get(ind_id - 1) else None,
        next_id=ind_id + 1 if rt.catalog.get(ind_id + 1) else None,
        who=views.person_namer(rt),
    )


def page_before_and_after(app, client, ind: int) -> tuple[str, str]:
    client.get(f"/admin/indicators/{ind}")  # a message flashed before is shown once, here
    after = client.get(f"/admin/indicators/{ind}").get_data(as_text=True)
    view = app.view_functions["admin.indicator"]
    app.view_functions["admin.indicator"] = before_view
    try:
        before = client.get(f"/admin/indicators/{ind}").get_data(as_text=True)
    finally:
        app.view_functions["admin.indicator"] = view
    return before, after


def write(rt, ind: int, dept: str, **changes) -> None:
    a, raw = rt.store.assignments.get(ind, dept)
    after = a.changed("sandbox:zhangsan", rt.store.now_iso(), **changes)
    rt.store.assignments.save(Change(raw, after, "sandbox:zhangsan", "test", undo="keep"))


def materials() -> tuple[Material, ...]:
    pdf = StoredFile("ab" * 32, 1234, "方案 <v2>.pdf", "pdf")
    return (
        Material("已查通", "https://www.example.gov.cn/ok.html", "张三", AT),
        Material("查通无状态", "https://www.example.gov.cn/plain.html", "", AT),
        Material("打不开", "https://www.example.gov.cn/dead.html?a=1&b=2", "张三", AT),
        Material("未检查", "https://www.example.gov.cn/new.html", "张三", AT),
        Material(EVIL, "javascript:alert(1)", "x", AT),
        Material("文件", "", "张三", AT, location="files/ab/abab", file=pdf),
        Material("纸质有位置", "", "", AT, location="档案室 3 号柜"),
        Material("纸质无位置", "", EVIL, AT),
        Material("涉密件", "", "张三", AT, location="机要室", secret=True),
    )


def test_the_page_is_the_same_as_the_template_loop_wrote_it(web_app, admin_client, web_rt):
    rt = web_rt
    s = rt.store
    s.links.record("https://www.example.gov.cn/ok.html", {"ok": True, "status": 200, "title": EVIL})
    s.links.record("https://www.example.gov.cn/plain.html", {"ok": True})
    s.links.record(
        "https://www.example.gov.cn/dead.html?a=1&b=2",
        {"ok": False, "status": None, "error": "timeout"},
    )
    widest = max(rt.catalog.ids, key=lambda i: len(rt.services.units_of.get(i, {})))
    plain = min(i for i in rt.catalog.ids if i != widest and rt.services.units_of.get(i))
    for ind in (widest, plain):
        units = sorted(rt.services.units_of[ind].items(), key=lambda du: du[1] is Role.LEAD)
        depts = [d for d, _ in units]
        write(rt, ind, depts[0], status=Status.IN_PROGRESS, materials=materials())
        write(rt, ind, depts[1], status=Status.RETURNED, reason=EVIL, rework="2020-08-20")
        write(rt, ind, depts[2 % len(depts)], status=Status.DONE, explanation=EVIL,
              materials=materials()[6:7], rectification="已整改 <完毕>")  # fmt: skip
        if len(depts) > 3:
            write(rt, ind, depts[3], status=Status.RETURNED, reason="材料不全")
        office_note = {"side": "office", "name": "", "text": EVIL}
        s.comments.add(ind, depts[0], office_note, "web:admin")
        s.comments.add(ind, depts[0], {"side": "department", "name": "张三", "text": "收到"}, "t")
        s.comments.add(ind, depts[1], {"side": "department", "name": EVIL, "text": "好"}, "t")
    office.set_star(rt, widest, True, actor="web:admin")
    for ind in (widest, plain, max(rt.catalog.ids)):
        before, after = page_before_and_after(web_app, admin_client, ind)
        assert 'class="card unit' in after
        assert after == before, ind
    page = admin_client.get(f"/admin/indicators/{widest}").get_data(as_text=True)
    for shown in ("整改说明", "返工期限 2020-08-20", "✓ 可访问（200）", "⚠ 无法打开", "尚未检查",
                  "涉密", "未写存放位置", "from-office", "from-department", "2 条"):  # fmt: skip
        assert shown in page, shown
    assert EVIL not in page and "&lt;b&gt;&#34;甲&#34; &amp; &#39;乙&#39;&lt;/b&gt;" in page
