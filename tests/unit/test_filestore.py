"""bot/filestore.py: what a file is comes from its bytes, names that look like paths are refused,
files are kept whole by content."""

from __future__ import annotations

import hashlib
import io
import zipfile

import openpyxl
import pytest
from docx import Document
from PIL import Image

from bot.filestore import (
    FileRefused,
    LocalFileStore,
    StoredFile,
    accept,
    file_store,
    sniff,
    thumbnail,
)

LIMIT = 1024 * 1024


def _image(fmt: str, size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


def _docx() -> bytes:
    out = io.BytesIO()
    doc = Document()
    doc.add_paragraph("报送材料说明")
    doc.save(out)
    return out.getvalue()


def _xlsx() -> bytes:
    out = io.BytesIO()
    wb = openpyxl.Workbook()
    wb.active["A1"] = "资料目录"
    wb.save(out)
    return out.getvalue()


def _zip(names: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n in names:
            z.writestr(n, "x")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "pdf"),
        (_image("JPEG"), "jpeg"),
        (_image("PNG"), "png"),
        (_image("GIF"), "gif"),
        (_image("WEBP"), "webp"),
        (_docx(), "docx"),
        (_xlsx(), "xlsx"),
        (_zip(["OFD.xml", "Doc_0/Document.xml"]), "ofd"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504, "ole"),
    ],
)
def test_the_kind_comes_from_the_bytes(data, kind):
    assert sniff(data) == kind
    f = accept(data, "材料", LIMIT)
    assert f.kind == kind
    assert f.sha256 == hashlib.sha256(data).hexdigest()
    assert f.size == len(data)


@pytest.mark.parametrize(
    ("data", "name", "says"),
    [
        (
            b"MZ\x90\x00\x03" + b"\0" * 100,
            "通知.pdf",
            "不是可接收的文件类型",
        ),  # a program named .pdf
        (_zip(["a.txt"]), "目录.xlsx", "不是可接收的文件类型"),  # a plain zip named .xlsx
        (b"<html><script>", "照片.jpg", "不是可接收的文件类型"),
        (b"", "空.pdf", "空文件"),
        (b"%PDF-" + b"0" * LIMIT, "大.pdf", "超过了 1.0 MB 的上限"),
        (b"%PDF-1.4", "../../etc/passwd", "不能包含路径"),
        (b"%PDF-1.4", "a\\b.pdf", "不能包含路径"),
        (b"%PDF-1.4", "..", "不能包含路径"),
        (b"%PDF-1.4", "a\nb.pdf", "控制字符"),
        (b"%PDF-1.4", "  ", "没有名称"),
        (b"%PDF-1.4", "长" * 121, "文件名太长"),
    ],
)
def test_refused_files_say_why_in_chinese(data, name, says):
    with pytest.raises(FileRefused) as e:
        accept(data, name, LIMIT)
    assert says in str(e.value)


def test_names_are_kept_as_given():
    name = "2020年 依法行政（第一季度）：汇总.PDF"
    assert accept(b"%PDF-1.4", name, LIMIT).name == name


def test_local_store_keeps_a_file_whole_and_once(tmp_path):
    store = LocalFileStore(tmp_path)
    data = _image("PNG")
    f = accept(data, "现场.png", LIMIT)
    store.put(data, f)
    store.put(data, f)  # again: harmless
    assert store.get(f.sha256) == data
    kept = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert kept == [tmp_path / f.sha256[:2] / f.sha256]  # no temporary file left behind
    assert store.location(f.sha256) == f"files/{f.sha256[:2]}/{f.sha256}"
    assert store.get("0" * 64) is None
    assert store.get("../../secret_key") is None


def test_local_store_refuses_bytes_that_are_not_the_described_file(tmp_path):
    store = LocalFileStore(tmp_path)
    f = accept(b"%PDF-1.4 one", "a.pdf", LIMIT)
    with pytest.raises(ValueError):
        store.put(b"%PDF-1.4 two", f)
    assert not any(tmp_path.rglob("*"))


def test_store_round_trips_its_description():
    f = accept(_docx(), "说明.docx", LIMIT)
    assert StoredFile.from_dict(f.to_dict()) == f
    assert f.label == "Word" and not f.is_image


def test_default_store_is_under_the_data_directory(tmp_path):
    store = file_store("", str(tmp_path))
    assert isinstance(store, LocalFileStore) and store.root == tmp_path / "files"
    assert file_store(str(tmp_path / "x"), "ignored").root == tmp_path / "x"


def test_thumbnail_downscales_a_phone_photo_and_leaves_non_images():
    photo = _image("JPEG", size=(4000, 3000))
    small = thumbnail(photo)
    with Image.open(io.BytesIO(small)) as im:
        assert max(im.size) == 800 and im.format == "JPEG"
    assert thumbnail(b"%PDF-1.4") is None
