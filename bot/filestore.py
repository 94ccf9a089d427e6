"""Stored files: evidence uploaded on the fill-in page, files and pictures sent to the bot in
chat, the inspectors' photos.

Files are kept by content (their SHA-256), so the same file sent twice is kept once, behind one
small interface (`FileStore`): `LocalFileStore` keeps them under the data directory
(DUBAN_FILE_DIR, default <data_dir>/files); an S3-compatible store would be a second class with
the same three methods, chosen by a setting. What a file *is* comes from its content, never from
its name (`sniff`); its name is kept as the person gave it, after `check_name` refused the ones
that could be read as a path.

Pure Python, no framework: the web, the chat handlers and the jobs all call `accept` and then
`put`, so one set of rules and one set of Chinese refusals hold everywhere.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# What may be stored: kind -> (label for people, MIME type). Office files and OFD (the Chinese
# national fixed-layout format many government systems export) are zip or OLE containers and
# are told apart by what is inside them.
KINDS: dict[str, tuple[str, str]] = {
    "pdf": ("PDF", "application/pdf"),
    "ofd": ("OFD", "application/ofd"),
    "docx": ("Word", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pptx": ("PPT", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    "ole": ("Office 97-2003", "application/x-ole-storage"),
    "jpeg": ("JPG 图片", "image/jpeg"),
    "png": ("PNG 图片", "image/png"),
    "gif": ("GIF 图片", "image/gif"),
    "webp": ("WEBP 图片", "image/webp"),
}
IMAGES = frozenset({"jpeg", "png", "gif", "webp"})
ACCEPTED_TEXT = "PDF、OFD、Word、Excel、PPT 或图片（JPG、PNG、GIF、WEBP）"
MAX_NAME_CHARS = 120
THUMB_PX = 800  # the longest side of the copy shown on pages; the original is kept as it came


class FileRefused(ValueError):
    """A file that is not stored; the message is the Chinese sentence to show."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    name: str  # as the person gave it (checked by check_name)
    kind: str  # a key of KINDS, from the content

    @property
    def mime(self) -> str:
        return KINDS[self.kind][1]

    @property
    def label(self) -> str:
        return KINDS[self.kind][0]

    @property
    def is_image(self) -> bool:
        return self.kind in IMAGES

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "size": self.size, "name": self.name, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict) -> StoredFile:
        return cls(str(d["sha256"]), int(d["size"]), str(d["name"]), str(d["kind"]))


def _zip_kind(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "OFD.xml" in names:
        return "ofd"
    if "[Content_Types].xml" in names:
        for prefix, kind in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
            if any(n.startswith(prefix) for n in names):
                return kind
    return None


def sniff(data: bytes) -> str | None:
    """The kind of `data` judged by its bytes, or None when it is none of KINDS."""
    head = data[:16]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    return None


def check_name(name: str) -> str:
    """`name` unchanged when it can be kept as a file's name, else FileRefused: a name is shown
    and exported, never used as a path, but one that looks like a path is refused outright."""
    if not name or not name.strip():
        raise FileRefused("文件没有名称，请重新选择文件。")
    if "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise FileRefused("文件名不能包含路径（/ 或 \\），请改名后再上传。")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise FileRefused("文件名含有控制字符，请改名后再上传。")
    if len(name) > MAX_NAME_CHARS:
        raise FileRefused(f"文件名太长（超过 {MAX_NAME_CHARS} 个字），请改短后再上传。")
    return name


def accept(data: bytes, name: str, max_bytes: int) -> StoredFile:
    """The file `data` named `name` as it would be stored, or FileRefused saying why not."""
    check_name(name)
    if not data:
        raise FileRefused(f"「{name}」是空文件，请检查后重新上传。")
    if len(data) > max_bytes:
        raise FileRefused(
            f"「{name}」有 {_mb(len(data))}，超过了 {_mb(max_bytes)} 的上限，请压缩或拆分后再上传。"
        )
    kind = sniff(data)
    if kind is None:
        raise FileRefused(f"「{name}」不是可接收的文件类型。请上传 {ACCEPTED_TEXT}。")
    return StoredFile(hashlib.sha256(data).hexdigest(), len(data), name, kind)


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def thumbnail(data: bytes, px: int = THUMB_PX) -> bytes | None:
    """A JPEG no larger than px on its longest side, for showing an image on a page (a phone
    photo is several MB); None when `data` is no image Pillow can read."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # pillow: a runtime dependency

    try:
        with Image.open(io.BytesIO(data)) as im:
            im = ImageOps.exif_transpose(im)
            im.thumbnail((px, px))
            out = io.BytesIO()
            im.convert("RGB").save(out, "JPEG", quality=82, optimize=True)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


class FileStore(Protocol):
    """Where the bytes of stored files live."""

    def put(self, data: bytes, file: StoredFile) -> None:
        """Keep `data` (whose checked description is `file`); keeping it again is harmless."""

    def get(self, sha256: str) -> bytes | None:
        """The bytes of a kept file, or None when it is not kept here."""

    def location(self, sha256: str) -> str:
        """Where a file is kept, as the exports write it for the office."""


class LocalFileStore:
    """Files under one directory, `<root>/<ab>/<sha256>`, each written to a temporary name,
    synced and renamed into place, so a file is either whole or absent (a full disk leaves
    nothing half-written)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, file: StoredFile) -> None:
        if hashlib.sha256(data).hexdigest() != file.sha256:
            raise ValueError("the bytes are not the described file")
        path = self.path(file.sha256)
        if path.exists() and path.stat().st_size == file.size:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{file.sha256}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def location(self, sha256: str) -> str:
        return f"files/{sha256[:2]}/{sha256}"


def file_store(file_dir: str, data_dir: str) -> FileStore:
    """The store the settings name: DUBAN_FILE_DIR, or <data_dir>/files when it is empty."""
    return LocalFileStore(file_dir or Path(data_dir) / "files")
