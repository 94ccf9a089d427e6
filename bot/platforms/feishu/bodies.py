"""Neutral text (bot/render.py's Markdown subset) in Feishu's dialects, and the request bodies
that carry it, split into numbered parts within Feishu's byte limits.

Three message kinds ("发送消息内容", https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/im-v1/message/create_json):
`text` (plain, mentions as `<at user_id="ou_…"></at>`), `post` (rich text: paragraphs of text,
link and at elements) and `interactive` (a card whose div holds `lark_md`: bold, links,
`<at id=ou_…></at>`, no lists or quotes; "文本组件", https://open.feishu.cn/document/ukTMukTMukTM/uUzNwUjL1cDM14SN3ATN).
Text without markup goes as `text`, text with markup as a card, like the other platforms'
markdown messages. A text that ends with Duban's buttons line (bot/render.py `with_actions`)
becomes a card with buttons (`button_card`), unless someone is @-mentioned or the card would
exceed the route's limit: then the line stays a line of links, as on the other platforms.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from bot.platforms.base import encode_json
from bot.render import (
    ALL,
    Button,
    fit_parts,
    has_markup,
    split_actions,
    to_plain,
    with_actions,
)

# The message API refuses larger requests with 230025: "文本消息请求体最大不能超过150KB；卡片及富文本
# 消息请求体最大不能超过30KB" ("发送消息", https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/reference/im-v1/message/create).
# Counted in thousands of bytes, to stay clear of however Feishu counts a KB.
API_TEXT_LIMIT = 150_000
API_RICH_LIMIT = 30_000
# A custom group bot takes at most 20 KB per request ("自定义机器人使用指南",
# https://open.feishu.cn/document/ukTMukTMukTM/ucTM5YjL3ETO24yNxkjN).
WEBHOOK_LIMIT = 20_000

KINDS = ("text", "post", "interactive")

# The fields added to a body when it is sent, reserved in every size check: the API's
# idempotency `uuid` (32 hex characters here), a custom bot's seconds timestamp and sign.
_UUID_RESERVE = {"uuid": "0" * 32}
_SIGN_RESERVE = {"timestamp": "0" * 10, "sign": "0" * 44}

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]+)\)")
_QUOTE = re.compile(r"^\s*>(?:[ \t]|$)")
_ITEM = re.compile(r"^(\s*)- ")
_AT_TAG = re.compile(r"<(?=\s*at\b)", re.IGNORECASE)


def choose_kind(text: str) -> str:
    """A card when the text uses markup, else plain text (mentions render best there)."""
    return "interactive" if has_markup(text) else "text"


def _defuse(text: str) -> str:
    """Keep an `<at …>` that someone typed (say in a 说明) from becoming a real @-mention, of
    everyone even, when the text is echoed: a zero-width space after "<" breaks the tag."""
    return _AT_TAG.sub("<\u200b", text)


# --- the three dialects ---------------------------------------------------------------------


def text_content(text: str, mentions: Sequence[str] = ()) -> dict[str, str]:
    """`{"text": …}`: plain lines, URLs visible, mentions after the text."""
    tags = [
        '<at user_id="all">所有人</at>' if m == ALL else f'<at user_id="{m}"></at>'
        for m in mentions
    ]
    out = _defuse(to_plain(text))
    return {"text": f"{out}\n{' '.join(tags)}" if tags else out}


def lark_md(text: str, mentions: Sequence[str] = ()) -> str:
    """The card's lark_md: bold and links kept, list items as "• ", quote marks dropped."""
    lines = []
    for line in text.strip("\n").split("\n"):
        line = _QUOTE.sub("", line.rstrip(), count=1)
        lines.append(_ITEM.sub(r"\1• ", line))
    out = _defuse("\n".join(lines))
    tags = " ".join("<at id=all></at>" if m == ALL else f"<at id={m}></at>" for m in mentions)
    return f"{out}\n{tags}" if tags else out


def card_content(text: str, mentions: Sequence[str] = ()) -> dict[str, Any]:
    """An interactive card with one lark_md block; no header, so nothing is said twice."""
    return {
        "config": {"wide_screen_mode": True},
        "elements": [
            {"tag": "div", "text": {"tag": "lark_md", "content": lark_md(text, mentions)}}
        ],
    }


def _runs(line: str) -> list[dict[str, Any]]:
    """One post paragraph: text runs (bold where **…**) and links."""
    out: list[dict[str, Any]] = []
    pos = 0
    for m in _LINK.finditer(line):
        out += _styled(line[pos : m.start()])
        title, url = m.group(1).strip(), m.group(2)
        out.append({"tag": "a", "text": _BOLD.sub(r"\1", title) or url, "href": url})
        pos = m.end()
    return out + _styled(line[pos:])


def _styled(chunk: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, piece in enumerate(_BOLD.split(chunk)):
        if piece:
            run: dict[str, Any] = {"tag": "text", "text": piece}
            if i % 2:
                run["style"] = ["bold"]
            out.append(run)
    return out


def post_content(text: str, mentions: Sequence[str] = ()) -> dict[str, Any]:
    """`{"zh_cn": {"title", "content": [[elements], …]}}`: one paragraph per line (an empty line
    stays as an empty text run), mentions as at elements in a last paragraph."""
    paragraphs = []
    for line in text.strip("\n").split("\n"):
        line = _ITEM.sub(r"\1• ", _QUOTE.sub("", line.rstrip(), count=1))
        paragraphs.append(_runs(line) or [{"tag": "text", "text": ""}])
    if mentions:
        paragraphs.append([{"tag": "at", "user_id": "all" if m == ALL else m} for m in mentions])
    return {"zh_cn": {"title": "", "content": paragraphs}}


def content_of(kind: str, text: str, mentions: Sequence[str] = ()) -> dict[str, Any]:
    if kind == "text":
        return text_content(text, mentions)
    if kind == "post":
        return post_content(text, mentions)
    if kind == "interactive":
        return card_content(text, mentions)
    raise ValueError(f"Feishu has no message kind {kind!r}")


# --- cards with buttons -----------------------------------------------------------------------
# Card JSON 1.0 ("卡片 JSON 1.0 结构", https://open.feishu.cn/document/uAjLw4CM/ukzMukzMukzM/feishu-cards/card-json-structure):
# the text in a div of lark_md, then an `action` module ("交互模块",
# https://open.feishu.cn/document/ukTMukTMukTM/uYzM3QjL2MzN04iNzcDN/component-list/common-components-and-elements)
# whose buttons jump to a URL ("按钮", https://open.feishu.cn/document/common-capabilities/message-card/add-card-interaction/interactive-components/button):
# `tag` "button", `text` a plain_text, `url` (never together with `multi_url`), `type`
# default / primary / danger. A jump needs no callback address, so the custom bot can send it.

MAX_BUTTONS = 4  # as on DingTalk: more would not fit a phone's width; the buttons line has 1–3
BUTTON_TYPES = ("default", "primary", "danger")


def button(label: str, url: str, primary: bool = False) -> dict[str, Any]:
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": label},
        "type": "primary" if primary else "default",
        "url": url,
    }


def card_with_buttons(text: str, buttons: Sequence[Button]) -> dict[str, Any]:
    """The card of a neutral text and its buttons: the text as lark_md (no mentions: a card
    with buttons is only drawn when nobody is to be @-mentioned), the first button primary."""
    if not buttons:
        raise ValueError("a card with buttons needs a button")
    actions = [button(label, url, i == 0) for i, (label, url) in enumerate(buttons[:MAX_BUTTONS])]
    return {
        "config": {"wide_screen_mode": True},
        "elements": [
            {"tag": "div", "text": {"tag": "lark_md", "content": lark_md(text)}},
            {"tag": "action", "actions": actions},
        ],
    }


def button_card(text: str, mentions: Sequence[str] = ()) -> dict[str, Any] | None:
    """The card with buttons of a neutral text that ends with a buttons line, or None: no
    buttons, or someone to @-mention (the ping matters more than a button; the links stay in
    the text). Whether it fits is the caller's to check, per route."""
    body, buttons = split_actions(text)
    if not buttons or [m for m in mentions if m]:
        return None
    return card_with_buttons(body, buttons)


# --- request bodies ---------------------------------------------------------------------------


def api_body(kind: str, content: dict[str, Any], chat_id: str = "") -> dict[str, Any]:
    """A body of the message API: `content` is a JSON *string*; `receive_id` only for a send
    (`POST /open-apis/im/v1/messages?receive_id_type=chat_id`), none for a reply."""
    body: dict[str, Any] = {"msg_type": kind, "content": encode_json(content).decode("utf-8")}
    if chat_id:
        body["receive_id"] = chat_id
    return body


def webhook_body(kind: str, content: dict[str, Any]) -> dict[str, Any]:
    """A custom bot's body: `content` as an object (`{"post": …}` for post), a card under
    `card`; `timestamp` and `sign` are added when it is sent (see outbound.sign_webhook_body)."""
    if kind == "interactive":
        return {"msg_type": "interactive", "card": content}
    if kind == "post":
        return {"msg_type": "post", "content": {"post": content}}
    return {"msg_type": kind, "content": content}


def api_limit(kind: str) -> int:
    return API_TEXT_LIMIT if kind == "text" else API_RICH_LIMIT


def api_bodies(
    text: str, mentions: Sequence[str] = (), chat_id: str = "", kind: str | None = None
) -> list[dict[str, Any]]:
    """Reply (no `chat_id`) or send bodies for neutral text, split into numbered parts so that
    each request stays within its kind's limit. Mentions ride on the first part."""
    card = button_card(text, mentions) if kind is None else None
    if card is not None:
        one = api_body("interactive", card, chat_id)
        if len(encode_json({**one, **_UUID_RESERVE})) <= API_RICH_LIMIT:
            return [one]
    kind = kind or choose_kind(text)

    def draw(part: str, first: bool) -> dict[str, Any]:
        return api_body(kind, content_of(kind, part, mentions if first else ()), chat_id)

    def measure(body: dict[str, Any]) -> int:
        return len(encode_json({**body, **_UUID_RESERVE}))

    return fit_parts(text, api_limit(kind), draw, measure)


def webhook_bodies(
    text: str, mentions: Sequence[str] = (), kind: str | None = None
) -> list[dict[str, Any]]:
    """Custom bot bodies for neutral text, each within 20 KB once signed."""
    card = button_card(text, mentions) if kind is None else None
    if card is not None:
        one = webhook_body("interactive", card)
        if len(encode_json({**one, **_SIGN_RESERVE})) <= WEBHOOK_LIMIT:
            return [one]
    kind = kind or choose_kind(text)

    def draw(part: str, first: bool) -> dict[str, Any]:
        return webhook_body(kind, content_of(kind, part, mentions if first else ()))

    def measure(body: dict[str, Any]) -> int:
        return len(encode_json({**body, **_SIGN_RESERVE}))

    return fit_parts(text, WEBHOOK_LIMIT, draw, measure)


def text_of(body: dict[str, Any]) -> str:
    """What a body says, for tests and logs: the text, the card's lark_md (its buttons as the
    buttons line they came from) or the post's runs."""
    content = body.get("card") or body.get("content")
    if isinstance(content, str):
        content = json.loads(content)
    content = content.get("post", content)
    if "text" in content:
        return content["text"]
    if "elements" in content:
        out = "\n".join(e["text"]["content"] for e in content["elements"] if "text" in e)
        buttons = [
            (b["text"]["content"], b["url"])
            for e in content["elements"]
            if e.get("tag") == "action"
            for b in e["actions"]
        ]
        return with_actions(out, buttons)
    lines = content["zh_cn"]["content"]
    return "\n".join("".join(r.get("text", "") for r in line) for line in lines)
