"""Neutral message types shared by the command core, the platforms and delivery.

Nothing here knows about Flask, Redis or a particular chat platform.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Incoming:
    """One message addressed to the bot (a text, or a file or picture), already translated from
    a platform."""

    platform: str  # "dingtalk" | "wecom" | "wecom_app" | "feishu" | "console" | "sandbox"
    user_id: str
    text: str
    chat_id: str = ""  # group / conversation id; "" for a one-to-one chat
    is_group: bool = False
    mentioned: bool = False  # the bot was @-mentioned (or it is a one-to-one chat)
    message_id: str = ""
    user_name: str = ""
    is_admin: bool = False  # asserted by a trusted local channel (console --admin, sandbox)
    reply_url: str = ""  # where the platform accepts a later answer (DingTalk sessionWebhook)
    reply_url_expires_ms: int = 0  # ... until this epoch millisecond
    # A file or picture sent to the bot (bot.chatfiles.Attachment as JSON); its text is "".
    attachment: str = ""

    def reply_route(self) -> dict[str, str | int]:
        """Where a later answer goes: the reply URL, its expiry, and the chat it lands in (the
        group, or the user in a one-to-one chat)."""
        return {
            "url": self.reply_url,
            "expires_at_ms": self.reply_url_expires_ms,
            "chat": self.chat_id or self.user_id,
        }


def mention(platform: str, user_id: str) -> str:
    """Someone to @-mention in a push, with the platform their id belongs to: a department's
    chats may be on WeCom and DingTalk at once, and an id means nothing on the other one."""
    return f"{platform}:{user_id}"


def mention_parts(m: str) -> tuple[str, str]:
    """(platform, user id) of a push's mention; ("", m) for @all and for a reply's mentions,
    which are bare ids of the chat's own platform (as are pushes queued before this split)."""
    platform, sep, user_id = m.partition(":")
    if sep and platform.replace("_", "").isalpha():
        return platform, user_id
    return "", m


@dataclass(frozen=True)
class Reply:
    """A platform-neutral answer: a small Markdown subset (bold, lists, links) plus mentions."""

    text: str
    mentions: tuple[str, ...] = ()  # user ids to @-mention
    silent: bool = False  # nothing to say (unknown text without @)
    refused: bool = False  # the command was refused and changed nothing (its text says why)

    @classmethod
    def quiet(cls) -> Reply:
        return cls(text="", silent=True)

    @property
    def shown(self) -> bool:
        """Whether anything is posted: a silent or blank reply is not."""
        return not self.silent and bool(self.text.strip())

    def to_json(self) -> str:
        d = {"text": self.text, "mentions": list(self.mentions), "silent": self.silent}
        if self.refused:
            d["refused"] = True
        return json.dumps(d, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Reply:
        d = json.loads(raw)
        return cls(
            d["text"], tuple(d.get("mentions", ())), bool(d.get("silent")), bool(d.get("refused"))
        )


@dataclass(frozen=True, init=False)
class ChatTarget:
    """Where a department or the office is reached on one platform: the platform's name and its
    own fields from org.yaml (which fields each platform has is its Sender's `chat_fields`,
    bot/platforms/<name>/). Fields read as attributes (`target.webhook`); one the chat does not
    have reads as ""."""

    platform: str
    fields: tuple[tuple[str, str], ...]  # (name, value), sorted, empty values left out

    def __init__(self, platform: str, fields: dict[str, str] | None = None, **named: str) -> None:
        values = {**(fields or {}), **named}
        object.__setattr__(self, "platform", platform)
        object.__setattr__(self, "fields", tuple(sorted((k, v) for k, v in values.items() if v)))

    def get(self, name: str) -> str:
        for key, value in self.fields:
            if key == name:
                return value
        return ""

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)


@dataclass(frozen=True)
class Notice:
    """A message to push later: to a department's chats, or to the office's chats."""

    text: str
    department: str = ""  # "" = the office (admin_chats)
    mentions: tuple[str, ...] = ()  # mention(platform, user id) each, or render.ALL
    kind: str = "notice"  # notice | reminder | escalation | ranking | review | binding


@dataclass(frozen=True)
class HttpIn:
    """A framework-free view of an HTTP request, built by the web adapter."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class HttpOut:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
