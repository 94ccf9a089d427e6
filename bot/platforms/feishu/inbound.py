"""POST /hooks/feishu: an app bot's event subscription over HTTP ("将事件发送至开发者服务器",
https://open.feishu.cn/document/ukTMukTMukTM/uYDNxYjL2QTM24iN0EjN/event-subscription-configure-/choose-a-subscription-mode/send-notifications-to-developers-server).
The URL verification challenge, the signature and freshness check, decryption, the
verification token, and `im.message.receive_v1` text messages as Incoming, pictures and files
(an `image`, a `file`, or a `post` holding a picture) as an Incoming with an attachment. Feishu reads
nothing from the response body of an event, so every answer goes out later through the
message API (the ack-then-answer mode, bot/inbox.py).
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from bot.chatfiles import Attachment
from bot.config import Settings
from bot.messages import HttpIn, HttpOut, Incoming, Reply
from bot.platforms.base import (
    AckMode,
    MalformedError,
    SignatureError,
    check_size,
    get_obj,
    get_str,
    json_out,
    load_json_object,
    opt_str,
)
from bot.platforms.feishu.crypto import check_event_signature, decrypt_event
from bot.platforms.feishu.outbound import reply_url

# Feishu retries an event after 15 s, 5 min, 1 h and 6 h; each attempt is signed anew, so an
# hour is ample for the timestamp and a replayed request is older.
MAX_SKEW_S = 3600
MESSAGE_EVENT = "im.message.receive_v1"
ACK = {"msg": "success"}

# `@_user_1`: how text content spells the N-th mention ("接收消息内容结构",
# https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/im-v1/message/events/message_content);
# `@_all` is @everyone.
_PLACEHOLDER = re.compile(r"@_user_\d+|@_all(?![A-Za-z0-9_])")
_BOT_TYPES = ("bot", "app")  # mentioned_type / sender_type of a bot (both spellings are seen)
# The message types read: text, and the three that may carry a picture or file.
_TYPES = ("text", "image", "file", "post")


def open_envelope(body: bytes, encrypt_key: str) -> dict[str, Any]:
    """The event JSON: decrypted when the body is `{"encrypt": …}`. An encrypted body without an
    Encrypt Key configured cannot be checked: SignatureError."""
    data = load_json_object(body)
    if "encrypt" not in data:
        return data
    encrypt = get_str(data, "encrypt")
    if not encrypt_key:
        raise SignatureError("an encrypted event but no DUBAN_FEISHU_ENCRYPT_KEY")
    return load_json_object(decrypt_event(encrypt_key, encrypt))


def token_of(event: dict[str, Any]) -> str:
    """The verification token: header.token in schema 2.0, token in 1.0 and in the challenge."""
    header = event.get("header")
    if isinstance(header, dict):
        return opt_str(header, "token")
    return opt_str(event, "token")


def strip_mentions(text: str, mentions: list[dict[str, Any]]) -> tuple[str, bool]:
    """The text with the bot's placeholders removed and other people's as "@name", and whether
    the bot was mentioned. A mention is the bot's when its mentioned_type says so. A payload
    without mentioned_type counts any placeholder but @_all: a group message reaches the bot
    at all only when it @-mentions the bot (unless the app holds the sensitive "read all group
    messages" permission, which Duban does not ask for)."""
    typed = any("mentioned_type" in m for m in mentions)
    names: dict[str, str] = {}
    for m in mentions:
        key, name = m.get("key"), m.get("name")
        if not isinstance(key, str) or m.get("mentioned_type") in _BOT_TYPES or not typed:
            continue
        names[key] = f"@{name}" if isinstance(name, str) and name else ""
    bot = typed and any(m.get("mentioned_type") in _BOT_TYPES for m in mentions)

    def swap(match: re.Match[str]) -> str:
        nonlocal bot
        key = match.group(0)
        if key in names:
            return names[key]
        bot = bot or (not typed and key != "@_all")
        return ""

    out = _PLACEHOLDER.sub(swap, text)
    out = re.sub(r"[ \t\u3000]{2,}", " ", out).strip()
    return out, bot


def attachment_of(kind: str, content: dict[str, Any], message_id: str) -> tuple[str, str]:
    """(the Attachment as JSON, or "", the text placeholders of a post's @-mentions) of an
    `image`, `file` or `post` message's content ("接收消息内容结构",
    https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/im-v1/message/events/message_content):
    `{"image_key"}`; `{"file_key", "file_name"}`; a post `{"title", "content": [[elements]]}`
    whose `img` elements carry an image_key and whose `at` elements a `@_user_N` user_id. A post
    with pictures gives its first (a liaison @-mentions the bot in a group and pastes a photo:
    Feishu sends that as a post); one without gives ""."""
    if kind == "image":
        key = get_str(content, "image_key")
        if not key:
            raise MalformedError("image message without an image_key")
        return Attachment("feishu", "image", key, message_id=message_id).to_json(), ""
    if kind == "file":
        key = get_str(content, "file_key")
        if not key:
            raise MalformedError("file message without a file_key")
        name = opt_str(content, "file_name")
        return Attachment("feishu", "file", key, name, message_id=message_id).to_json(), ""
    if "content" not in content and len(content) == 1:  # {"zh_cn": {...}}, as posts are sent
        only = next(iter(content.values()))
        content = only if isinstance(only, dict) else content
    paragraphs = content.get("content") or []
    if not isinstance(paragraphs, list):
        raise MalformedError("post content must be a list of paragraphs")
    images, ats = [], []
    for paragraph in paragraphs:
        if not isinstance(paragraph, list):
            raise MalformedError("a post paragraph must be a list")
        for el in paragraph:
            if not isinstance(el, dict):
                raise MalformedError("a post element must be an object")
            if el.get("tag") == "img" and isinstance(el.get("image_key"), str) and el["image_key"]:
                images.append(el["image_key"])
            elif el.get("tag") == "at" and isinstance(el.get("user_id"), str):
                ats.append(el["user_id"])
    if not images:
        return "", " ".join(ats)
    att = Attachment("feishu", "image", images[0], message_id=message_id)
    return att.to_json(), " ".join(ats)


def message_of(event: dict[str, Any], api_base: str, platform: str = "feishu") -> Incoming | None:
    """A schema 2.0 `im.message.receive_v1` message from a person, in a group or one to one,
    as Incoming: a text, or a picture or file (Incoming.attachment, its text empty); other
    events and message types, and a post without a picture → None (acknowledged, nothing done).
    `event` is the event JSON once opened and vouched for: by the signature and verification
    token of an HTTP event, or by the app credentials of the event WebSocket (bot/stream)."""
    header = event.get("header")
    if event.get("schema") != "2.0" or not isinstance(header, dict):
        return None  # 1.0 events and anything else we did not subscribe to
    if get_str(header, "event_type") != MESSAGE_EVENT:
        return None
    body = get_obj(event, "event")
    message, sender = get_obj(body, "message"), get_obj(body, "sender")
    if opt_str(sender, "sender_type") not in ("", "user"):
        return None  # a bot's message, our own replies included: never answered
    kind = get_str(message, "message_type")
    if kind not in _TYPES:
        return None
    user_id = get_str(get_obj(sender, "sender_id"), "open_id")
    message_id = get_str(message, "message_id")
    if not user_id or not message_id:
        raise MalformedError("sender open_id or message_id is empty")
    chat_type = get_str(message, "chat_type")
    if chat_type not in ("group", "p2p"):
        raise MalformedError("chat_type must be 'group' or 'p2p'")
    is_group = chat_type == "group"
    chat_id = opt_str(message, "chat_id")
    if is_group and not chat_id:
        raise MalformedError("group message without chat_id")
    try:
        content = json.loads(get_str(message, "content"))
    except (ValueError, RecursionError):
        raise MalformedError("message content is not JSON") from None
    if not isinstance(content, dict):
        raise MalformedError("message content is not an object")
    mentions = message.get("mentions") or []
    if not isinstance(mentions, list) or not all(isinstance(m, dict) for m in mentions):
        raise MalformedError("mentions must be a list of objects")
    attachment = ""
    if kind == "text":
        text, mentioned = strip_mentions(get_str(content, "text"), mentions)
    else:
        attachment, placeholders = attachment_of(kind, content, message_id)
        if not attachment:
            return None  # a post of text only: not read (text messages are the commands)
        text, mentioned = "", strip_mentions(placeholders, mentions)[1]
    return Incoming(
        platform=platform,
        user_id=user_id,
        text=text,
        chat_id=chat_id if is_group else "",
        is_group=is_group,
        mentioned=mentioned or not is_group,
        message_id=message_id,
        reply_url=reply_url(api_base, message_id),
        attachment=attachment,
    )


class Feishu:
    """POST /hooks/feishu."""

    name = "feishu"
    platform = "feishu"
    ack_mode: AckMode = "ack_then_answer"

    def __init__(self, settings: Settings) -> None:
        if not settings.feishu_verification_token:
            # Without it (and without an Encrypt Key) anyone could post events.
            raise ValueError("Feishu needs DUBAN_FEISHU_VERIFICATION_TOKEN")
        self.verification_token = settings.feishu_verification_token
        self.encrypt_key = settings.feishu_encrypt_key
        self.api_base = settings.feishu_api_base.rstrip("/")
        self.max_body_bytes = settings.max_body_bytes

    def _check_token(self, event: dict[str, Any]) -> None:
        token = token_of(event).encode("utf-8")
        if not hmac.compare_digest(token, self.verification_token.encode("utf-8")):
            raise SignatureError("verification token mismatch")

    def handshake(self, req: HttpIn, now_ms: int) -> HttpOut | None:
        """The URL verification request: answer `{"challenge": …}` (within a second). It is
        encrypted when an Encrypt Key is set but not signed (the signature check excludes it,
        "步骤三：接收事件") and carries no time, so the verification token, inside the
        ciphertext, vouches for it and `now_ms` has nothing to check."""
        if req.method.upper() != "POST":
            return None
        check_size(req.body, self.max_body_bytes)
        event = open_envelope(req.body, self.encrypt_key)
        if event.get("type") != "url_verification":
            return None
        self._check_token(event)
        return json_out({"challenge": get_str(event, "challenge")})

    def verify(self, req: HttpIn, now_ms: int) -> None:
        """With an Encrypt Key, every event carries X-Lark-Request-Timestamp, -Nonce and
        X-Lark-Signature = hex(sha256(timestamp + nonce + encrypt_key + body)) ("步骤三：接收
        事件", https://open.feishu.cn/document/ukTMukTMukTM/uYDNxYjL2QTM24iN0EjN/event-subscription-configure-/encrypt-key-encryption-configuration-case):
        all three present, the timestamp fresh, the signature matching. Without one, the
        verification token (checked in parse) is all Feishu offers."""
        if req.method.upper() != "POST":
            raise MalformedError("events are POSTed")
        if not self.encrypt_key:
            return
        timestamp = req.headers.get("x-lark-request-timestamp", "")
        nonce = req.headers.get("x-lark-request-nonce", "")
        signature = req.headers.get("x-lark-signature", "")
        if not (timestamp and nonce and signature):
            raise SignatureError("X-Lark-Request-Timestamp, -Nonce or X-Lark-Signature missing")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise SignatureError("X-Lark-Request-Timestamp is not epoch seconds")
        if abs(now_ms // 1000 - int(timestamp)) > MAX_SKEW_S:
            raise SignatureError("timestamp outside the 1-hour window")
        check_event_signature(signature, timestamp, nonce, self.encrypt_key, req.body)

    def parse(self, req: HttpIn) -> Incoming | None:
        """A schema 2.0 `im.message.receive_v1` message from a person (a text, a picture or a
        file), in a group or one to one, as Incoming ("接收消息", https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/reference/im-v1/message/events/receive);
        other events and message types → None (acknowledged, nothing done). The message id is
        the dedupe key: a redelivered event (same event_id) carries the same message."""
        check_size(req.body, self.max_body_bytes)
        event = open_envelope(req.body, self.encrypt_key)
        self._check_token(event)
        return message_of(event, self.api_base, self.platform)

    def render_reply(self, req: HttpIn, msg: Incoming, reply: Reply, now_ms: int) -> HttpOut:
        """Only an acknowledgement: Feishu ignores an event response's body (replies go through
        the message API), and wants HTTP 200 within 3 seconds or it retries."""
        return json_out(ACK)

    def reply_plan(
        self, req: HttpIn, msg: Incoming, reply: Reply, now_ms: int
    ) -> tuple[HttpOut, dict[str, Any] | None]:
        return self.render_reply(req, msg, reply, now_ms), None

    def later(self, req: HttpIn, msg: Incoming, now_ms: int) -> dict[str, Any] | None:
        """Every message is answered by a worker through the reply API (bot/inbox.py)."""
        return msg.reply_route() if msg.message_id else None
