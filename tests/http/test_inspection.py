"""查验 (issue 16 item 6): the September inspection on the admin. Marks 已查验 / 有问题 with a
note kept as written, photos from the phone stored by the file store (refused when not an
image or too big), progress per department, the findings report (page and Word), the district
summary, and the inspectors' own password that opens these pages only."""

from __future__ import annotations

import io
import re

import docx
import pytest
from PIL import Image

from bot import binder, inspection
from bot.filestore import LocalFileStore
from bot.progress import Material, Status
from bot.records import ConflictError
from tests.e2e.background import set_status, use_env
from tests.http.conftest import csrf_of, demo_env, login

DEPT = "司法局"
INSPECTOR_PASSWORD = "look-at-the-volumes"


@pytest.fixture
def web_settings(web_settings, tmp_path, monkeypatch):
    """The shared demo settings, with photos kept under this test's directory, at most 1 MB,
    and an inspectors' password."""
    env = demo_env(
        web_settings.redis_url,
        DUBAN_FILE_DIR=str(tmp_path / "files"),
        DUBAN_FILE_MAX_MB="1",
        DUBAN_INSPECTOR_PASSWORD=INSPECTOR_PASSWORD,
    )
    return use_env(monkeypatch, env)


def items(rt, dept: str = DEPT) -> list[int]:
    return [
        i
        for i in sorted(i for (i, d) in rt.assignments if d == dept)
        if rt.catalog.indicators[i].kind != "deduction"
    ]


def png(size=(1200, 900), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def mark(client, ind: int, action: str, dept: str = DEPT, **form):
    data = {"csrf": csrf_of(client, f"/admin/inspect/{dept}"), "action": action, **form}
    return client.post(
        f"/admin/inspect/{dept}/{ind}",
        data=data,
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def progress_text(html: str) -> str:
    return re.search(r'<b id="progress-text">([^<]+)</b>', html).group(1)


def test_marks_notes_and_progress(admin_client, web_rt):
    ids = items(web_rt)
    page = admin_client.get(f"/admin/inspect/{DEPT}").get_data(as_text=True)
    assert progress_text(page) == f"查验 0/{len(ids)}"
    assert page.count('class="card inspect-item') == len(ids)

    resp = mark(admin_client, ids[0], "ok")
    assert resp.status_code == 200
    note = "  缺2019年台账；\n第3卷页码与目录不符  "
    resp = mark(admin_client, ids[1], "problem", note=note)
    html = resp.get_data(as_text=True)
    assert progress_text(html) == f"查验 2/{len(ids)}"
    assert "有问题 1" in html
    assert f"{DEPT}第{ids[1]}项：有问题。" in html  # told inside the card just marked

    marks = web_rt.store.inspections.marks([DEPT])[DEPT]
    assert marks[ids[0]]["state"] == "ok"
    assert marks[ids[1]]["state"] == "problem"
    assert marks[ids[1]]["note"] == note  # as typed, spaces kept
    entries = [e for e in web_rt.store.audit.entries(count=20) if e.action == "inspect"]
    assert [(e.indicator, e.actor, e.department) for e in entries] == [
        (ids[1], "web:admin", DEPT),
        (ids[0], "web:admin", DEPT),
    ]
    assert "已查验→有问题" not in entries[0].note and "未查验→有问题" in entries[0].note

    # the same tap again changes nothing and writes nothing
    mark(admin_client, ids[0], "ok")
    assert len([e for e in web_rt.store.audit.entries(count=20) if e.action == "inspect"]) == 2

    # 有问题 without a note asks for one; 撤销标记 forgets the judgement, keeps the note
    html = mark(admin_client, ids[2], "problem").get_data(as_text=True)
    assert "请在备注里写明问题" in html
    mark(admin_client, ids[1], "clear", note=note)
    m = inspection.Mark.from_dict(web_rt.store.inspections.marks([DEPT])[DEPT][ids[1]])
    assert (m.state, m.note) == ("", note)
    html = admin_client.get(f"/admin/inspect/{DEPT}?show=left").get_data(as_text=True)
    assert f'id="i-{ids[1]}"' in html and f'id="i-{ids[0]}"' not in html

    # under 有问题, an item judged fine after all leaves the list: the result is said at the top
    html = mark(admin_client, ids[2], "ok", show="problem").get_data(as_text=True)
    assert f'id="i-{ids[2]}"' not in html
    top = re.search(r'<main>.*?<ul class="flash" role="status">(.*?)</ul>', html, re.S).group(1)
    assert f"{DEPT}第{ids[2]}项：已查验。" in top


def test_a_note_too_long_is_refused_and_nothing_changes(admin_client, web_rt):
    ind = items(web_rt)[0]
    html = mark(admin_client, ind, "problem", note="字" * 1001).get_data(as_text=True)
    assert f"第{ind}项未保存：备注最多 1000 个字" in html
    assert web_rt.store.inspections.marks([DEPT])[DEPT] == {}


def test_photo_is_stored_with_a_small_copy_and_served(admin_client, web_rt):
    ind = items(web_rt)[0]
    data = png()
    resp = mark(admin_client, ind, "problem", note="柜门未锁", photo=(io.BytesIO(data), "现场.png"))
    assert "已保存照片 1 张" in resp.get_data(as_text=True)
    m = inspection.Mark.from_dict(web_rt.store.inspections.marks([DEPT])[DEPT][ind])
    (photo,) = m.photos
    assert (photo.file.name, photo.file.kind, photo.file.size) == ("现场.png", "png", len(data))
    files = LocalFileStore(web_rt.settings.file_dir)
    assert files.get(photo.file.sha256) == data  # the original, as taken
    small = files.get(photo.thumb)
    assert small is not None and len(small) < len(data)
    assert max(Image.open(io.BytesIO(small)).size) == 800

    page = admin_client.get(f"/admin/inspect/{DEPT}").get_data(as_text=True)
    assert f'src="/admin/inspect/photo/{photo.thumb}"' in page
    got = admin_client.get(f"/admin/inspect/photo/{photo.thumb}")
    assert (got.status_code, got.mimetype) == (200, "image/jpeg")
    got = admin_client.get(f"/admin/inspect/photo/{photo.file.sha256}")
    assert (got.status_code, got.mimetype, got.data) == (200, "image/png", data)
    # a second photo is added, the same one again is not kept twice
    mark(admin_client, ind, "save", note="柜门未锁", photo=(io.BytesIO(data), "again.png"))
    mark(
        admin_client,
        ind,
        "save",
        note="柜门未锁",
        photo=(io.BytesIO(png(color=(0, 0, 0))), "b.png"),
    )
    m = inspection.Mark.from_dict(web_rt.store.inspections.marks([DEPT])[DEPT][ind])
    assert [p.file.name for p in m.photos] == ["现场.png", "b.png"]
    assert m.state == "problem"  # 保存 keeps the judgement

    # a wrong photo is taken off the item (删除), the others stay
    html = mark(admin_client, ind, "", note="柜门未锁", drop=photo.file.sha256).get_data(
        as_text=True
    )
    assert "已删除 1 张照片" in html
    m = inspection.Mark.from_dict(web_rt.store.inspections.marks([DEPT])[DEPT][ind])
    assert ([p.file.name for p in m.photos], m.state) == (["b.png"], "problem")
    last = next(e for e in web_rt.store.audit.entries(count=5) if e.action == "inspect")
    assert last.note == "删除照片 1 张"


def test_photo_refused_when_not_an_image(admin_client, web_rt):
    ind = items(web_rt)[0]
    pdf = b"%PDF-1.4\n" + b"0" * 100
    for data, name in ((b"just some text", "photo.jpg"), (pdf, "scan.pdf")):
        html = mark(admin_client, ind, "ok", photo=(io.BytesIO(data), name)).get_data(as_text=True)
        assert (
            f"第{ind}项未保存：「{name}」不是图片。请拍照，或选择 JPG、PNG、GIF 或 WEBP 图片。"
            in html
        )
    assert web_rt.store.inspections.marks([DEPT])[DEPT] == {}  # the tap did not count either
    root = LocalFileStore(web_rt.settings.file_dir).root
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]  # nothing kept


def test_photo_refused_when_too_big(admin_client, web_rt):
    ind = items(web_rt)[0]
    big = png()[:64] + b"\0" * (1024 * 1024 + 10)  # a PNG's head, over DUBAN_FILE_MAX_MB=1
    html = mark(admin_client, ind, "ok", photo=(io.BytesIO(big), "big.png")).get_data(as_text=True)
    assert f"第{ind}项未保存：「big.png」有 1.0 MB，超过了 1.0 MB 的上限" in html
    assert web_rt.store.inspections.marks([DEPT])[DEPT] == {}
    # far too big for any photo: the body itself is refused
    huge = b"\0" * (4 * 1024 * 1024)
    resp = mark(admin_client, ind, "ok", photo=(io.BytesIO(huge), "huge.png"))
    assert resp.status_code == 200
    assert f"第{ind}项未保存：这次上传的照片合计超过 3 MB" in resp.get_data(as_text=True)
    assert web_rt.store.inspections.marks([DEPT])[DEPT] == {}
    # without a login such a body is not read at all
    fresh = admin_client.application.test_client()
    resp = fresh.post(
        f"/admin/inspect/{DEPT}/{ind}",
        data={"action": "ok", "photo": (io.BytesIO(huge), "huge.png")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 413


def test_findings_report_page_and_word(admin_client, web_client, web_rt):
    ids = items(web_rt)
    set_status(
        web_rt,
        ids[1],
        DEPT,
        Status.DONE,
        materials=(Material("2020年执法台账", "", "张三", "", "档案室2号柜第3卷"),),
    )
    mark(admin_client, ids[0], "ok", note="齐全")
    mark(admin_client, ids[1], "problem", note="缺第12页", photo=(io.BytesIO(png()), "p.png"))
    page = admin_client.get(f"/admin/inspect/{DEPT}/report").get_data(as_text=True)
    assert f"本单位共 {len(ids)} 项，已查验 2 项，其中有问题" in page
    assert f'id="f-{ids[1]}"' in page and "缺第12页" in page
    assert f'id="f-{ids[0]}"' not in page
    assert f"第{ids[2]}项" in re.search(r'<p id="left">(.*?)</p>', page, re.S).group(1)

    resp = admin_client.get(f"/admin/inspect/{DEPT}/report.docx")
    assert resp.status_code == 200
    assert "attachment" in resp.headers["Content-Disposition"]
    doc = docx.Document(io.BytesIO(resp.data))
    lines = [p.text for p in doc.paragraphs]
    assert lines[1:3] == ["实地查验情况报告", f"受检单位：{DEPT}"]
    assert any(f"共{len(ids)}项指标需查验，已查验2项，其中发现问题1项" in t for t in lines)
    problems = doc.tables[0]
    assert [c.text for c in problems.rows[0].cells] == [
        "指标", "查验内容", "问题说明", "照片", "查验人/时间",
    ]  # fmt: skip
    row = [c.text for c in problems.rows[1].cells]
    assert row[0].startswith(f"第{ids[1]}项")
    assert "2020年执法台账（档案室2号柜第3卷）" in row[1]
    assert (row[2], row[3]) == ("缺第12页", "")  # the photo is printed in its cell
    (shape,) = doc.inline_shapes
    blob = doc.part.related_parts[shape._inline.graphic.graphicData.pic.blipFill.blip.embed].blob
    assert Image.open(io.BytesIO(blob)).size == (800, 600)  # the small copy
    assert row[4].startswith("管理后台")
    fine = doc.tables[1]
    assert [c.text for c in fine.rows[1].cells][2] == "齐全"
    assert len(fine.rows) == 2


def test_district_summary_names_departments_and_items(admin_client, web_rt):
    other = "教育局"
    a, b = items(web_rt)[0], items(web_rt, other)[0]
    mark(admin_client, a, "problem", note="x")
    mark(admin_client, b, "problem", note="y", dept=other)
    mark(admin_client, items(web_rt, other)[1], "ok", dept=other)
    page = admin_client.get("/admin/inspect").get_data(as_text=True)
    assert 'id="all-problems">2<' in page
    table = re.search(r'<table id="problems-by-department">(.*?)</table>', page, re.S).group(1)
    assert DEPT in table and other in table and f"第{a}项" in table and f"第{b}项" in table
    n_other = len(items(web_rt, other))
    li = re.search(rf'<li data-department="{other}">(.*?)</li>', page, re.S).group(1)
    assert f"查验 2/{n_other}" in li
    resp = admin_client.get("/admin/inspect/summary.docx")
    doc = docx.Document(io.BytesIO(resp.data))
    rows = {r.cells[0].text: [c.text for c in r.cells] for r in doc.tables[0].rows}
    assert rows[other][1:4] == [f"2/{n_other}", "1", str(n_other - 2)]
    assert rows[DEPT][4] == f"第{a}项"


def test_unknown_department_item_and_login_required(admin_client, web_client, web_rt):
    assert admin_client.get("/admin/inspect/不存在的局").status_code == 404
    deduction = next(
        i
        for (i, d) in web_rt.assignments
        if d == DEPT and web_rt.catalog.indicators[i].kind == "deduction"
    )  # a declaration, nothing on paper to inspect
    assert f'id="i-{deduction}"' not in admin_client.get(f"/admin/inspect/{DEPT}").get_data(
        as_text=True
    )
    assert mark(admin_client, deduction, "ok").status_code == 404
    not_ours = next(i for i in web_rt.catalog.indicators if (i, DEPT) not in web_rt.assignments)
    assert mark(admin_client, not_ours, "ok").status_code == 404
    assert web_rt.store.inspections.marks([DEPT])[DEPT] == {}
    fresh = web_client.application.test_client()
    assert fresh.get(f"/admin/inspect/{DEPT}").status_code == 302  # to the login
    assert admin_client.get("/admin/inspect/photo/" + "0" * 64).status_code == 404


def test_marks_are_in_the_audit_log_page(admin_client, web_rt):
    ind = items(web_rt)[0]
    mark(admin_client, ind, "problem", note="卷宗缺页")
    page = admin_client.get("/admin/audit?action=inspect").get_data(as_text=True)
    assert "实地查验" in page and "未查验→有问题；备注：卷宗缺页" in page


def test_inspectors_password_opens_the_inspection_only(web_client, web_rt):
    resp = login(web_client, INSPECTOR_PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin/inspect")
    page = web_client.get("/admin/inspect").get_data(as_text=True)
    assert ">查验</a>" in page and ">待审核</a>" not in page
    resp = web_client.get("/admin/review")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin/inspect")
    token = csrf_of(web_client, "/admin/inspect")
    assert web_client.post("/admin/remind", data={"csrf": token}).status_code == 403
    ind = items(web_rt)[0]
    mark(web_client, ind, "problem", note="查验组发现")
    (entry,) = [e for e in web_rt.store.audit.entries(count=5) if e.action == "inspect"]
    assert entry.actor == "web:inspector"
    page = web_client.get(f"/admin/inspect/{DEPT}").get_data(as_text=True)
    assert "查验人员 ·" in page
    # a new inspectors' password ends the logins made with the old one
    web_rt.settings = web_rt.settings.with_(inspector_password="a-new-one")
    assert web_client.get("/admin/inspect").status_code == 302


def test_a_tap_on_a_page_shown_earlier_keeps_a_note_written_since(admin_client, web_rt):
    ind = items(web_rt)[0]
    # the first inspector's page shows no note; meanwhile a second one writes one
    inspection.change(web_rt.store, DEPT, ind, note="第3卷缺页", actor="web:inspector")
    mark(admin_client, ind, "problem", note="", note_was="")
    m = inspection.Mark.from_dict(web_rt.store.inspections.mark(DEPT, ind)[1])
    assert (m.state, m.note) == ("problem", "第3卷缺页")
    # a note the inspector did edit is stored
    mark(admin_client, ind, "problem", note="第3卷缺页，已补", note_was="第3卷缺页")
    m = inspection.Mark.from_dict(web_rt.store.inspections.mark(DEPT, ind)[1])
    assert m.note == "第3卷缺页，已补"


def test_store_marks_are_compare_and_set(web_rt):
    ind = items(web_rt)[0]
    store = web_rt.store
    raw, _ = store.inspections.mark(DEPT, ind)
    inspection.change(store, DEPT, ind, state="ok", actor="web:admin")
    with pytest.raises(ConflictError):
        store.inspections.set_mark(DEPT, ind, raw, {"state": "problem"}, "web:admin", "")
    # change() reads again: a note by one inspector and a judgement by another both stay
    inspection.change(store, DEPT, ind, note="第3卷缺页", actor="web:inspector")
    m = inspection.Mark.from_dict(store.inspections.mark(DEPT, ind)[1])
    assert (m.state, m.note, m.by) == ("ok", "第3卷缺页", "web:inspector")


def test_the_binder_packs_qr_code_opens_the_departments_inspection_page(admin_client, web_rt):
    from urllib.parse import urlsplit

    from bot.exports import inspect_url

    url = inspect_url(web_rt.settings, DEPT)
    assert url.startswith("http://duban.test/admin/inspect/%E5%8F%B8")
    page = admin_client.get(urlsplit(url).path).get_data(as_text=True)
    assert "<h1>司法局</h1>" in page


@pytest.mark.skipif(not binder.pdf_font(), reason="no CJK TrueType font (fonts-wqy-microhei)")
def test_findings_and_summary_pdfs_print_in_a_chinese_font(admin_client, web_rt):
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    ind = items(web_rt)[0]
    mark(
        admin_client,
        ind,
        "problem",
        note="第3卷缺页，目录页码不符",
        photo=(io.BytesIO(png()), "p.png"),
    )
    report = pdfium.PdfDocument(admin_client.get(f"/admin/inspect/{DEPT}/report.pdf").data)
    pictures = [o for p in report for o in p.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])]
    assert len(pictures) == 1
    for path, words in (
        (
            f"/admin/inspect/{DEPT}/report.pdf",
            ("实地查验情况报告", f"受检单位：{DEPT}", "第3卷缺页"),
        ),
        ("/admin/inspect/summary.pdf", ("全区实地查验情况汇总", DEPT, f"第{ind}项")),
    ):
        resp = admin_client.get(path)
        assert (resp.status_code, resp.mimetype) == (200, "application/pdf")
        pdf = pdfium.PdfDocument(resp.data)
        text = "".join(p.get_textpage().get_text_range() for p in pdf).replace("\r\n", "")
        for w in words:
            assert w in text, (path, w)
        assert binder.missing_glyphs(text, binder.pdf_font()) == set()
        image = pdf[0].render(scale=1).to_pil().convert("L")
        assert min(image.getextrema()) < 64  # not a blank page


def test_a_nameless_link_is_named_as_everywhere_else(admin_client, web_rt):
    ind = items(web_rt)[0]
    url = "https://www.jinfeng.gov.cn/sfj/zfgs.html"
    set_status(web_rt, ind, DEPT, Status.IN_PROGRESS, materials=(Material("", url, "张三"),))
    page = admin_client.get(f"/admin/inspect/{DEPT}").get_data(as_text=True)
    assert f'href="{url}"' in page and ">www.jinfeng.gov.cn/sfj/zfgs.html</a>" in page
    web_rt.store.links.record(url, {"ok": True, "status": 200, "title": "执法公示专栏"})
    page = admin_client.get(f"/admin/inspect/{DEPT}").get_data(as_text=True)
    assert ">执法公示专栏</a>" in page  # the fetched page title, as in chat and the files
