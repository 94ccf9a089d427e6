"""Files and photos uploaded as evidence on the fill-in page (issue 15 item 1): checked by their
content, size and name (a refusal says why and stores nothing: no file on disk, no material, no
change), kept as a material of type file with its digest, size, name and kind, audited as 上传;
images shown downscaled, originals downloadable, both only under the signed link's authority."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile

import pytest
from PIL import Image

from bot.progress import Role, Status
from tests.e2e.background import use_env
from tests.http import conftest as web
from tests.http.test_fill_page import DEPT, csrf, link_of, say, state, version

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def photo(w: int = 2400, h: int = 1600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), (200, 80, 40)).save(out, "JPEG", quality=70)
    return out.getvalue()


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@pytest.fixture
def files_dir(tmp_path):
    return tmp_path / "files"


@pytest.fixture
def rt(redis_url, redis_client, monkeypatch, clock, files_dir):
    env = web.demo_env(redis_url, DUBAN_FILE_DIR=str(files_dir), DUBAN_FILE_MAX_MB="1")
    yield from web.runtime_for(use_env(monkeypatch, env), clock)


@pytest.fixture
def client(rt):
    return web.testing_app(rt).test_client()


@pytest.fixture
def path(rt):
    return link_of(say(rt, "填报"))


@pytest.fixture
def n(rt):
    return min(
        i
        for (i, d), r in rt.assignments.items()
        if d == DEPT and r is Role.LEAD and not rt.catalog.get(i).is_secret
    )


def upload(client, path: str, n: int, data: bytes, name: str, v: str | None = None):
    page = f"{path}/{n}"
    form = {
        "csrf": csrf(client, page),
        "v": v if v is not None else version(client, page),
        "file": (io.BytesIO(data), name),
    }
    return client.post(f"{page}/upload", data=form, content_type="multipart/form-data")


def on_disk(files_dir) -> list[str]:
    return sorted(p.name for p in files_dir.rglob("*") if p.is_file()) if files_dir.exists() else []


def test_a_pdf_becomes_a_file_material_kept_by_its_digest(client, rt, path, n, files_dir):
    resp = upload(client, path, n, PDF, "2024年执法案卷评查报告.pdf")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    a = state(rt, n)
    [m] = a.materials
    digest = hashlib.sha256(PDF).hexdigest()
    assert m.file is not None and m.is_file and not m.is_paper and not m.is_link
    assert (m.file.sha256, m.file.size, m.file.kind) == (digest, len(PDF), "pdf")
    assert m.name == "2024年执法案卷评查报告.pdf" and m.kind_label == "PDF 文件"
    assert m.location == f"files/{digest[:2]}/{digest}"
    assert a.status is Status.IN_PROGRESS
    assert on_disk(files_dir) == [digest]
    entry = rt.store.audit.entries(5)[0]
    assert (entry.action, entry.actor, entry.note) == ("file", "sandbox:zhangsan", m.name)
    html = client.get(f"{path}/{n}").get_data(as_text=True)
    assert "已上传第" in html and "2024年执法案卷评查报告.pdf" in html and "PDF 文件" in html
    # the chat sees the same material
    assert "2024年执法案卷评查报告.pdf" in say(rt, f"查看 {n}")
    # and the original comes back as it was, under its own name
    got = client.get(f"{path}/{n}/file/{digest}")
    assert got.status_code == 200 and got.data == PDF
    assert got.headers["Content-Type"] == "application/pdf"
    assert "filename*=UTF-8''2024" in got.headers["Content-Disposition"]


def test_a_photo_is_shown_downscaled_and_its_original_kept(client, rt, path, n, files_dir):
    big = photo()
    assert upload(client, path, n, big, "IMG_0001.jpg").status_code == 302
    digest = hashlib.sha256(big).hexdigest()
    html = client.get(f"{path}/{n}").get_data(as_text=True)
    assert f"{path}/{n}/thumb/{digest}" in html and "JPG 图片" in html
    thumb = client.get(f"{path}/{n}/thumb/{digest}")
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.data)) as im:
        assert max(im.size) == 800
    assert len(thumb.data) < len(big)
    assert client.get(f"{path}/{n}/file/{digest}").data == big
    # a Word file by its content
    assert upload(client, path, n, docx(), "工作台账.docx").status_code == 302
    assert [m.kind_label for m in state(rt, n).materials] == ["JPG 图片", "Word 文件"]


def test_undo_and_delete_work_on_a_file_as_on_any_material(client, rt, path, n):
    upload(client, path, n, PDF, "报告.pdf")
    page = f"{path}/{n}"
    resp = client.post(
        f"{page}/undo", data={"csrf": csrf(client, page), "v": version(client, page)}
    )
    assert resp.status_code == 302 and state(rt, n).materials == ()
    upload(client, path, n, PDF, "报告.pdf")
    again = upload(client, path, n, PDF, "报告副本.pdf")
    assert again.status_code == 400
    assert "已在第" in again.get_data(as_text=True) and len(state(rt, n).materials) == 1


@pytest.mark.parametrize(
    ("data", "name", "said"),
    [
        (b"%PDF-1.4\n" + b"0" * (1024 * 1024), "大文件.pdf", "超过了 1.0 MB 的上限"),
        (b"MZ\x90\x00 this is a program" * 10, "报告.pdf", "不是可接收的文件类型"),
        (b"<html><script>alert(1)</script></html>", "照片.jpg", "不是可接收的文件类型"),
        (b"", "空.pdf", "是空文件"),
        (PDF, "../../etc/passwd.pdf", "文件名不能包含路径"),
        # a quoted header value's backslash escapes the next character (RFC 9110 5.6.4),
        # so a client that means one backslash sends two; a lone one arrives as nothing
        (PDF, "材料\\\\报告.pdf", "文件名不能包含路径"),
    ],
    ids=["oversized", "exe-named-pdf", "html-named-jpg", "empty", "slash", "backslash"],
)
def test_a_refused_upload_says_why_and_stores_nothing(
    client, rt, path, n, files_dir, data, name, said
):
    before = state(rt, n)
    audit_before = len(rt.store.audit.entries(1000))
    resp = upload(client, path, n, data, name)
    html = resp.get_data(as_text=True)
    assert resp.status_code in (400, 413)
    assert said in html and 'role="alert"' in html
    assert on_disk(files_dir) == []
    after = state(rt, n)
    assert after.materials == () and after.version == before.version
    audited = rt.store.audit.entries(1000)
    assert audited[0].action == "fill_upload_refused" and said in audited[0].note
    assert "file" not in {e.action for e in audited[: len(audited) - audit_before]}


def test_a_body_larger_than_any_file_is_refused_unread(client, rt, path, n, files_dir):
    resp = upload(client, path, n, b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024), "巨大.pdf")
    assert resp.status_code == 413
    assert "超过了 1.0 MB 的上限" in resp.get_data(as_text=True)
    assert on_disk(files_dir) == [] and state(rt, n).materials == ()
    assert rt.store.audit.entries(1)[0].action == "fill_upload_refused"


def test_a_secret_item_takes_no_upload(client, rt, path, files_dir):
    secret = [i for (i, d) in rt.assignments if d == DEPT and rt.catalog.get(i).is_secret]
    if not secret:
        pytest.skip("no 涉密 item for this department")
    resp = upload(client, path, secret[0], PDF, "a.pdf")
    assert resp.status_code == 400 and "涉密材料不能上传" in resp.get_data(as_text=True)
    assert on_disk(files_dir) == []


def test_files_are_served_only_under_the_links_authority(client, rt, path, n, files_dir):
    upload(client, path, n, PDF, "报告.pdf")
    digest = hashlib.sha256(PDF).hexdigest()
    other = next(i for (i, d) in rt.assignments if d == DEPT and i != n)
    # the same digest through another item of the department: not its material
    assert client.get(f"{path}/{other}/file/{digest}").status_code == 404
    assert client.get(f"{path}/{n}/file/{'0' * 64}").status_code == 404
    assert client.get(f"{path}/{n}/file/..%2F..%2Fx").status_code == 404
    # a tampered link shows nothing
    link_id, exp, sig = path.removeprefix("/m/").split(".")
    bad = f"/m/{link_id}.{exp}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}"
    assert client.get(f"{bad}/{n}/file/{digest}").status_code == 404
    # another department's link does not reach this department's file
    say(rt, "绑定 公安分局", user="lisi")
    other_path = link_of(say(rt, "填报", user="lisi"))
    assert client.get(f"{other_path}/{n}/file/{digest}").status_code == 404
    assert re.search("fill_file", " ".join(e.action for e in rt.store.audit.entries(50))) is None


def test_the_office_sees_the_same_file_on_the_indicator_page_and_through_the_api(
    client, rt, path, n
):
    upload(client, path, n, PDF, "评查报告.pdf")
    digest = hashlib.sha256(PDF).hexdigest()
    office = web.testing_app(rt).test_client()
    assert client.get(f"/admin/files/{digest}").status_code in (302, 401)  # not logged in
    assert web.login(office).status_code == 302
    html = office.get(f"/admin/indicators/{n}").get_data(as_text=True)
    assert "评查报告.pdf" in html and "PDF 文件" in html and f"files/{digest[:2]}/{digest}" in html
    got = office.get(f"/admin/files/{digest}?name=评查报告.pdf")
    assert got.status_code == 200 and got.data == PDF
    assert got.headers["Content-Type"] == "application/pdf"
    assert office.get(f"/admin/files/{'1' * 64}").status_code == 404
    api = web.testing_app(rt).test_client()
    got = api.get(f"/api/v1/indicators/{n}", headers={"Authorization": f"Bearer {web.API_TOKEN}"})
    assert got.status_code == 200, got.get_data(as_text=True)
    body = got.get_json()
    mine = [
        a
        for a in body.get("assignments") or body.get("lead", []) + body.get("cooperate", [])
        if a["department"] == DEPT
    ]
    [m] = mine[0]["materials"]
    assert (m["kind"], m["kind_label"], m["file"]["sha256"]) == ("file", "PDF 文件", digest)
