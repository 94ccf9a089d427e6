"""DingTalk's message bodies (text, markdown, actionCard) for the passive reply, the
sessionWebhook, the custom robot with 加签 and the OpenAPI group send, within their byte limits,
and what a custom robot's errcode means. Pure translation: no HTTP calls are made here.

Vendor documents cited below by title:
- 接收消息: https://open.dingtalk.com/document/orgapp/receive-message
- 消息发送与接收类型: https://open.dingtalk.com/document/development/robot-message-type
- 机器人发送群聊消息: https://open.dingtalk.com/document/orgapp/the-robot-sends-a-group-message
- 获取企业内部应用的accessToken:
  https://open.dingtalk.com/document/orgapp/obtain-the-access_token-of-an-internal-app
- 自定义机器人发送群消息: https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages
- 自定义机器人安全设置: https://open.dingtalk.com/document/robots/customize-robot-security-settings
- 消息类型和数据格式 (actionCard; sampleActionCard…4 of the OpenAPI send):
  https://open.dingtalk.com/document/group/message-types-and-data-format
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from bot.messages import Reply
from bot.platforms.base import (
    Outcome,
    classify_code,
    encode_json,
)
from bot.render import (
    ALL,
    Button,
    fit_parts,
    has_markup,
    split_actions,
    title_of,
    to_plain,
    truncate_message,
)

# UTF-8 byte limits: the whole custom-robot (and sessionWebhook, passive reply) body (460101
# beyond it, 自定义机器人发送群消息) and the OpenAPI group send's msgParam (机器人发送群聊消息).
DINGTALK_BODY_LIMIT = 20000
DINGTALK_MSGPARAM_LIMIT = 15000
KINDS = ("text", "markdown")

SESSION_MARGIN_MS = 60_000  # stop using a sessionWebhook a minute before it expires


def dingtalk_sign(secret: str, timestamp_ms: int | str) -> str:
    """base64(HmacSHA256(key=secret, msg=timestamp + "\\n" + secret)), not URL-encoded (安全设置;
    接收消息)."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_webhook_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The custom-robot webhook URL with `&timestamp=<ms>&sign=<urlencoded>` appended (安全设置).

    A timestamp/sign pair already in `url` (a pasted signed URL) is replaced, since DingTalk
    rejects a stale one with 310000.
    """
    base, _, query = url.partition("?")
    kept = [p for p in query.split("&") if p and not p.startswith(("timestamp=", "sign="))]
    kept += [f"timestamp={timestamp_ms}", f"sign={quote_plus(dingtalk_sign(secret, timestamp_ms))}"]
    return f"{base}?{'&'.join(kept)}"


def markup(text: str, kind: str, mentions: Sequence[str] = ()) -> str:
    """Neutral text as DingTalk `text` or `markdown` content. Mentions are appended as
    "@userid": an @ renders only when it is also in the content (the `at` list in the body must
    name them too, 自定义机器人发送群消息); "@all" goes in `at.isAtAll` instead."""
    if kind not in KINDS:
        raise ValueError(f"dingtalk has no message kind {kind!r}")
    tail = " ".join(f"@{m}" for m in mentions if m != ALL)
    if kind == "text":
        out = to_plain(text)
        return f"{out}\n{tail}" if tail else out
    # DingTalk markdown ignores single newlines (blinkbean/dingtalk#2); a blank line between
    # lines is the break that every client renders, and it also ends a quote or list item.
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    out = "\n\n".join(line for line in lines if line)
    return f"{out}\n\n{tail}" if tail else out


def fit_markup(
    text: str, kind: str, limit: int, mentions: Sequence[str], measure: Callable[[str], int]
) -> list[str]:
    """`markup` of numbered parts of `text`, each measuring at most `limit`; mentions on the
    first part."""

    def draw(part: str, first: bool) -> str:
        return markup(part, kind, mentions if first else ())

    return fit_parts(text, limit, draw, measure)


def choose_kind(text: str) -> str:
    """markdown when the neutral text uses markup, else text (text mentions render most reliably)."""
    return "markdown" if has_markup(text) else "text"


def _at(mentions: Sequence[str]) -> dict[str, Any] | None:
    ids = [m for m in mentions if m != ALL]
    if not ids and ALL not in mentions:
        return None
    # The @ only renders when "@userid" is also in the content (自定义机器人发送群消息); markup()
    # appends it.
    return {"atUserIds": ids, "isAtAll": ALL in mentions}


def message_body(
    text: str, mentions: Sequence[str] = (), kind: str | None = None, title: str = ""
) -> dict[str, Any]:
    """One text/markdown message body from neutral text. The same JSON serves the passive reply,
    the sessionWebhook and the custom robot (消息发送与接收类型)."""
    kind = kind or choose_kind(text)
    content = markup(text, kind, mentions)
    if kind == "text":
        body: dict[str, Any] = {"msgtype": "text", "text": {"content": content}}
    else:
        body = {
            "msgtype": "markdown",
            "markdown": {"title": title or title_of(text), "text": content},
        }
    at = _at(mentions)
    if at:
        body["at"] = at
    return body


def session_webhook_body(reply: Reply) -> dict[str, Any]:
    """The JSON to POST to a message's sessionWebhook (plain JSON, no signing; 接收消息)."""
    return card_body(reply.text, reply.mentions) or _fitted_body(reply.text, reply.mentions)


# --- ActionCard: a message with buttons (消息类型和数据格式) -------------------------------------

MAX_BUTTONS = 4  # the OpenAPI's largest card, sampleActionCard4, has four


def action_card(text: str, buttons: Sequence[Button], title: str = "") -> dict[str, Any]:
    """An actionCard body: the neutral `text` as markdown, one button as the card's single
    button (singleTitle/singleURL), several as independent buttons (btns), stacked."""
    if not buttons:
        raise ValueError("an actionCard needs a button")
    card: dict[str, Any] = {"title": title or title_of(text), "text": markup(text, "markdown")}
    if len(buttons) == 1:
        card["singleTitle"], card["singleURL"] = buttons[0]
    else:
        card["btnOrientation"] = "0"  # stacked: Chinese labels stay whole on a phone
        card["btns"] = [{"title": t, "actionURL": u} for t, u in buttons[:MAX_BUTTONS]]
    return {"msgtype": "actionCard", "actionCard": card}


def card_body(text: str, mentions: Sequence[str] = ()) -> dict[str, Any] | None:
    """The actionCard of a neutral text that ends with a buttons line (bot.render.
    split_actions), or None: no buttons; someone to @-mention (an actionCard has no `at`, and a
    ping matters more than a button: the Markdown keeps the links); or a body over
    DINGTALK_BODY_LIMIT (the Markdown is split into parts instead)."""
    body, buttons = split_actions(text)
    if not buttons or [m for m in mentions if m]:
        return None
    card = action_card(body, buttons)
    return card if len(encode_json(card)) <= DINGTALK_BODY_LIMIT else None


def openapi_card_body(
    robot_code: str, open_conversation_id: str, text: str
) -> dict[str, Any] | None:
    """The OpenAPI group send of a text with buttons as sampleActionCard (one button) or
    sampleActionCard2…4 (actionTitleN/actionURLN), or None when it has none or msgParam would
    exceed DINGTALK_MSGPARAM_LIMIT."""
    body, buttons = split_actions(text)
    if not buttons:
        return None
    buttons = buttons[:MAX_BUTTONS]
    param: dict[str, str] = {"title": title_of(body), "text": markup(body, "markdown")}
    if len(buttons) == 1:
        key = "sampleActionCard"
        param["singleTitle"], param["singleURL"] = buttons[0]
    else:
        key = f"sampleActionCard{len(buttons)}"
        for i, (label, url) in enumerate(buttons, 1):
            param[f"actionTitle{i}"], param[f"actionURL{i}"] = label, url
    msg = json.dumps(param, ensure_ascii=False, separators=(",", ":"))
    if len(msg.encode("utf-8")) > DINGTALK_MSGPARAM_LIMIT:
        return None
    return {
        "robotCode": robot_code,
        "openConversationId": open_conversation_id,
        "msgKey": key,
        "msgParam": msg,
    }


def _fitted_body(text: str, mentions: Sequence[str]) -> dict[str, Any]:
    """A single body within DINGTALK_BODY_LIMIT, truncating the text if it must."""
    kind = choose_kind(text)
    budget = DINGTALK_BODY_LIMIT
    while True:
        body = message_body(truncate_message(text, budget), mentions, kind)
        size = len(encode_json(body))
        if size <= DINGTALK_BODY_LIMIT:
            return body
        budget -= max(size - DINGTALK_BODY_LIMIT, budget // 10)


def custom_robot_bodies(
    text: str, mentions: Sequence[str] = (), kind: str | None = None
) -> list[dict[str, Any]]:
    """Custom-robot bodies for neutral text, split into numbered parts when the encoded body
    would exceed 20,000 bytes (460101, 自定义机器人发送群消息). Mentions go on the first part. Send each with
    `encode_json` and a URL from `sign_webhook_url`."""
    card = card_body(text, mentions) if kind is None else None
    if card is not None:
        return [card]
    kind = kind or choose_kind(text)
    title = title_of(text)

    def body_of(content: str, with_mentions: bool) -> dict[str, Any]:
        if kind == "text":
            body: dict[str, Any] = {"msgtype": "text", "text": {"content": content}}
        else:
            body = {"msgtype": "markdown", "markdown": {"title": title, "text": content}}
        at = _at(mentions) if with_mentions else None
        if at:
            body["at"] = at
        return body

    def measure(content: str) -> int:
        return len(encode_json(body_of(content, True)))

    parts = fit_markup(text, kind, DINGTALK_BODY_LIMIT, mentions, measure)
    return [body_of(p, i == 0) for i, p in enumerate(parts)]


def openapi_group_body(
    robot_code: str, open_conversation_id: str, content: str, kind: str = "text", title: str = ""
) -> dict[str, Any]:
    """`POST /v1.0/robot/groupMessages/send` body; msgParam is a JSON *string* (机器人发送群聊消息)."""
    if kind == "text":
        key, param = "sampleText", {"content": content}
    elif kind == "markdown":
        key, param = "sampleMarkdown", {"title": title or title_of(content), "text": content}
    else:
        raise ValueError(f"unsupported kind {kind!r}")
    return {
        "robotCode": robot_code,
        "openConversationId": open_conversation_id,
        "msgKey": key,
        "msgParam": json.dumps(param, ensure_ascii=False, separators=(",", ":")),
    }


def openapi_group_bodies(
    robot_code: str, open_conversation_id: str, text: str, kind: str | None = None
) -> list[dict[str, Any]]:
    """OpenAPI group-send bodies for neutral text, split so each msgParam is ≤ 15,000 bytes.

    sampleText/sampleMarkdown carry no @ list, so mentions cannot ping through this route; a
    push that must @ someone goes through a custom robot instead. A text ending with buttons
    is one sampleActionCard when it fits.
    """
    card = openapi_card_body(robot_code, open_conversation_id, text) if kind is None else None
    if card is not None:
        return [card]
    kind = kind or choose_kind(text)
    title = title_of(text)

    def measure(content: str) -> int:
        body = openapi_group_body(robot_code, open_conversation_id, content, kind, title)
        return len(body["msgParam"].encode("utf-8"))

    parts = fit_markup(text, kind, DINGTALK_MSGPARAM_LIMIT, (), measure)
    return [openapi_group_body(robot_code, open_conversation_id, p, kind, title) for p in parts]


def access_token_body(app_key: str, app_secret: str) -> dict[str, str]:
    """`POST /v1.0/oauth2/accessToken` body; the answer is {accessToken, expireIn}
    (获取企业内部应用的accessToken)."""
    return {"appKey": app_key, "appSecret": app_secret}


def is_session_webhook_valid(
    expires_at_ms: int, now_ms: int, margin_ms: int = SESSION_MARGIN_MS
) -> bool:
    """Whether a sessionWebhook can still be used; after expiry DingTalk answers 300001 (接收消息)."""
    return now_ms + margin_ms < expires_at_ms


@dataclass(frozen=True)
class SessionWebhook:
    url: str
    expires_at_ms: int

    def is_valid(self, now_ms: int, margin_ms: int = SESSION_MARGIN_MS) -> bool:
        return is_session_webhook_valid(self.expires_at_ms, now_ms, margin_ms)


def _can_mention(user_id: str) -> bool:
    """A senderId ("$:LWCP_v1:$…", bound when senderStaffId was empty) is no id one can @."""
    return not user_id.startswith("$:")


# The custom robot's error codes (自定义机器人发送群消息, "错误码"): 130101 is the rate limit;
# 300001/300005 a bad token (or an expired sessionWebhook), 310000 sign, keyword or IP allow
# list, 460101 a body over 20,000 bytes: resending cannot help.
RATE_LIMITED = frozenset({130101})
PERMANENT = frozenset({300001, 300005, 310000, 460101})
# Newer throttle answers come under codes not in that table, so an unknown code whose text
# says "too fast" backs off too; only for an unknown code does the text decide.
_TOO_FAST = ("too fast", "过快", "太快", "频繁")


def classify_errcode(errcode: int | str | None, errmsg: str = "") -> Outcome:
    """What the sender does with a DingTalk errcode: "ok", back off, give up, or retry (-1
    and other unknown codes)."""
    outcome, _ = classify_code(errcode, RATE_LIMITED, PERMANENT)
    if outcome is not None:
        return outcome
    return "rate_limited" if any(t in str(errmsg).lower() for t in _TOO_FAST) else "retry"
