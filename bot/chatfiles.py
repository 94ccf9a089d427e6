"""Files and pictures sent to the bot in chat: what a platform's message says of one (an
Attachment, carried by Incoming.attachment), and the file held for its sender until a number
files it (Held).

The life of one: the callback's dispatch (handlers/receive_file.py) holds it for its sender as
"downloading" and queues its download (bot/jobs.py `fetch_chat_file`, bot/filefetch.py), so no
callback waits for a download; the worker checks and stores it (bot/filestore.py) and marks it
"stored", or "refused" with the sentence saying why (told in the department's chat); the
sender's next bare number (「12」) files it under that item by the rules of 提交
(handlers/file_in.py), once, and lets it go. A hold lasts HOLD_S from the file's arrival.

Pure values: no I/O here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from bot.filestore import StoredFile

HOLD_S = 600  # a file waits 10 minutes for its number
KEYWORD = "归档"  # the command a bare number becomes while a file is held: 「12」 = 「归档 12」
RECEIVE = "收文件"  # the command a file or picture message runs


@dataclass(frozen=True)
class Attachment:
    """A file or picture in a platform's message, as much as the message says of it.

    `source` says how it is fetched: "dingtalk" (a downloadCode for the robot's message file
    download API), "wecom" (the smart bot's URL, its content encrypted with the bot's
    EncodingAESKey), "wecom_app" (a MediaId for the app's media/get), "feishu" (an image_key or
    file_key for the message resource API, which also wants the message's id). `name` is the
    file's name when the message gives one ("" for pictures)."""

    source: str
    kind: str  # "file" | "image"
    ref: str  # downloadCode, URL or MediaId
    name: str = ""
    robot_code: str = ""  # DingTalk: the robot the message came to
    aes_key: str = ""  # WeCom: a key the message gives for this file (else the bot's own)
    message_id: str = ""  # Feishu: the message the resource belongs to

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Attachment:
        d = json.loads(raw)
        return cls(
            d["source"],
            d["kind"],
            d["ref"],
            d.get("name", ""),
            d.get("robot_code", ""),
            d.get("aes_key", ""),
            d.get("message_id", ""),
        )

    @property
    def said(self) -> str:
        """How the bot names it before it is downloaded: 「文件「a.pdf」」, 「图片」."""
        if self.name:
            return f"文件「{self.name}」"
        return "图片" if self.kind == "image" else "文件"


@dataclass(frozen=True)
class Held:
    """A file sent in chat, held for its sender: `message_id` is the message it came in."""

    message_id: str
    state: str  # "downloading" | "stored" | "refused"
    said: str  # how the bot named it so far (Attachment.said)
    file: StoredFile | None = None  # once stored
    location: str = ""  # where the file store keeps it
    why: str = ""  # the refusal, in Chinese

    def to_json(self) -> str:
        d = {"msg": self.message_id, "state": self.state, "said": self.said}
        if self.file is not None:
            d["file"] = self.file.to_dict()
            d["loc"] = self.location
        if self.why:
            d["why"] = self.why
        return json.dumps(d, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Held:
        d = json.loads(raw)
        f = StoredFile.from_dict(d["file"]) if d.get("file") else None
        return cls(d["msg"], d["state"], d["said"], f, d.get("loc", ""), d.get("why", ""))

    @property
    def name(self) -> str:
        """How the reply names it: its own name once stored."""
        return f"文件「{self.file.name}」" if self.file is not None else self.said


def received_text(said: str) -> str:
    """The reply to a file or picture: what came, and what to send next."""
    return f"收到{said}，请回复指标编号（如 12）归入该项。"


def image_name(kind: str, at_local: str) -> str:
    """The name a picture sent in chat is kept under (pictures come without one): 「图片
    2026-11-30 10.05.jpg」, by the local time it came and the kind of its content."""
    ext = {"jpeg": "jpg"}.get(kind, kind)
    return f"图片 {at_local}.{ext}"


def unnamed_file(kind: str) -> str:
    """The name of a file whose platform gave none (rare): 「文件.pdf」."""
    ext = {"jpeg": "jpg", "ole": "doc"}.get(kind, kind)
    return f"文件.{ext}"


def is_bare_number(text: str) -> int | None:
    """The item number of a message that is a number alone (「12」「第12项」), else None."""
    t = text.strip().removeprefix("第").removesuffix("项").strip()
    return int(t) if t.isdigit() and len(t) <= 4 else None
