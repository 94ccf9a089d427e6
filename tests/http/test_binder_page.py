"""The admin exports page reaches the September inspection's files (issue 16 item 6): the
binder pack of a department and the district checklist, built by their jobs and listed for
download."""

from __future__ import annotations

import io
import re

import docx

from tests.http.conftest import csrf_of, work


def listed(admin_client) -> dict[str, str]:
    page = admin_client.get("/admin/exports").get_data(as_text=True)
    return {
        name: href
        for href, name in re.findall(r'<a href="(/exports/[^"]+)" download>([^<]+)</a>', page)
    }


def test_binder_pack_and_checklist_from_the_exports_page(admin_client, web_client, web_rt):
    page = admin_client.get("/admin/exports").get_data(as_text=True)
    assert 'id="build-binder"' in page and 'id="build-checklist"' in page
    token = csrf_of(admin_client, "/admin/exports")
    resp = admin_client.post(
        "/admin/exports/build",
        data={"csrf": token, "scope": "binder", "department": "司法局"},
        follow_redirects=True,
    )
    assert "正在生成司法局的实地查验案卷包" in resp.get_data(as_text=True)
    resp = admin_client.post(
        "/admin/exports/build", data={"csrf": token, "scope": "checklist"}, follow_redirects=True
    )
    assert "正在生成全区实地查验清单" in resp.get_data(as_text=True)
    work(web_rt)
    files = listed(admin_client)
    pack = next(n for n in files if n.startswith("司法局_查验案卷包_") and n.endswith(".docx"))
    sheet = next(n for n in files if n.startswith("全区实地查验清单_") and n.endswith(".docx"))
    got = web_client.get(files[pack])
    assert got.status_code == 200
    lines = [p.text for p in docx.Document(io.BytesIO(got.data)).paragraphs]
    assert lines[1:3] == ["实地查验资料汇编", "报送单位：司法局"]
    lines = [
        p.text for p in docx.Document(io.BytesIO(web_client.get(files[sheet]).data)).paragraphs
    ]
    assert lines[1] == "实地查验清单"


def test_binder_pack_needs_a_department(admin_client, web_rt):
    token = csrf_of(admin_client, "/admin/exports")
    resp = admin_client.post(
        "/admin/exports/build",
        data={"csrf": token, "scope": "binder", "department": "不存在的局"},
        follow_redirects=True,
    )
    assert "请选择部门。" in resp.get_data(as_text=True)
    assert not [n for n in listed(admin_client) if "查验" in n]
