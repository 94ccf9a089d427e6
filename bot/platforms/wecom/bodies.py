"""WeCom's message bodies: the smart bot's stream replies (with a template card for buttons),
the group robot's text / markdown / markdown_v2 / template_card pushes within their byte and
length limits, and what a group robot's errcode means. Pure translation.

Vendor documents cited below by title:
- 智能机器人 接收消息: https://developer.work.weixin.qq.com/document/path/100719
- 智能机器人 被动回复消息: https://developer.work.weixin.qq.com/document/path/101031
- 回调配置 (URL verification, retries): https://developer.work.weixin.qq.com/document/path/90930
- 消息推送配置说明 (group robot webhook): https://developer.work.weixin.qq.com/document/path/91770
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from bot.messages import Incoming, Reply
from bot.platforms.base import (
    Outcome,
    classify_code,
    encode_json,
)
from bot.render import (
    ALL,
    Button,
    fit_parts,
    split_actions,
    title_of,
    to_plain,
    truncate_message,
    utf8_len,
)

# UTF-8 byte limits of a message's content: the group robot's text, markdown and markdown_v2
# (消息推送配置说明) and the smart bot's stream reply (被动回复消息).
WECOM_TEXT_LIMIT = 2048
WECOM_MARKDOWN_LIMIT = 4096
WECOM_MARKDOWN_V2_LIMIT = 4096
WECOM_STREAM_LIMIT = 20480
LIMITS = {
    "text": WECOM_TEXT_LIMIT,
    "markdown": WECOM_MARKDOWN_LIMIT,
    "markdown_v2": WECOM_MARKDOWN_V2_LIMIT,
}
_ITEM = re.compile(r"(?m)^(\s*)- ")


def markup(text: str, kind: str, mentions: Sequence[str] = ()) -> str:
    """Neutral text as WeCom `text`, `markdown` or `markdown_v2` content. Markdown mentions are
    `<@userid>` in the content; text mentions go in `mentioned_list` and markdown_v2 cannot
    mention, so both ignore `mentions` (消息推送配置说明)."""
    if kind not in LIMITS:
        raise ValueError(f"wecom has no message kind {kind!r}")
    if kind == "text":
        return to_plain(text)
    out = "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))
    if kind == "markdown":
        # WeCom markdown has no lists (消息推送配置说明): a "- " item would show its dash as typed.
        out = _ITEM.sub(r"\1· ", out)
        tail = "".join(f"<@{m}>" for m in mentions if m != ALL)
        return f"{out}\n{tail}" if tail else out
    return out


def fit_markup(
    text: str,
    kind: str,
    limit: int | None = None,
    mentions: Sequence[str] = (),
    measure: Callable[[str], int] = utf8_len,
) -> list[str]:
    """`markup` of numbered parts of `text`, each within `limit` (the kind's, by default);
    mentions on the first part."""

    def draw(part: str, first: bool) -> str:
        return markup(part, kind, mentions if first else ())

    return fit_parts(text, LIMITS[kind] if limit is None else limit, draw, measure)


# Group robot errors (消息推送配置说明 and the global error codes,
# https://developer.work.weixin.qq.com/document/path/90313): 45009 is the rate limit; 93000 a bad
# key, 40058 content too long, 40007 a bad media_id, and every other 400xx a bad request:
# resending cannot help. -1 (busy) and unknown codes are retried; errmsg never decides.
RATE_LIMITED = frozenset({45009})
PERMANENT = frozenset({93000, 40058, 40007})


def classify_errcode(errcode: int | str | None, errmsg: str = "") -> Outcome:
    """What the sender does with a WeCom errcode: "ok", back off, give up, or retry."""
    outcome, code = classify_code(errcode, RATE_LIMITED, PERMANENT)
    if outcome is not None:
        return outcome
    return "permanent" if code is not None and 40000 <= code <= 40099 else "retry"


def stream_body(stream_id: str, content: str, finish: bool = True) -> dict[str, Any]:
    """A stream reply; content is markdown of at most 20,480 bytes (被动回复消息). The callback's
    passive reply encrypts it, the long connection sends it as aibot_respond_msg's body."""
    content = truncate_message(content, WECOM_STREAM_LIMIT)
    return {"msgtype": "stream", "stream": {"id": stream_id, "finish": finish, "content": content}}


def stream_plaintext(stream_id: str, content: str, finish: bool = True) -> str:
    """The inner JSON of a stream reply."""
    return encode_json(stream_body(stream_id, content, finish)).decode("utf-8")


def stream_id_for(message_id: str) -> str:
    """A stream id derived from msgid, so a redelivered callback gets the same stream."""
    if not message_id:
        return "duban-" + secrets.token_hex(12)
    return "duban-" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:24]


def reply_stream_body(msg: Incoming, reply: Reply) -> dict[str, Any] | None:
    """The finished stream reply to a smart bot message; None when there is nothing to say.
    A reply that ends with buttons is a stream with a template card under it (流式消息+模板卡片
    回复, 被动回复消息): the text in full as markdown, the buttons on the card."""
    if not reply.shown:
        return None
    body, buttons = split_actions(reply.text)
    if buttons:
        content = markup(body, "markdown", reply.mentions)
        stream = stream_body(stream_id_for(msg.message_id), content)
        card = button_card(title_of(body, CARD_TITLE_CHARS), buttons)["template_card"]
        return {
            "msgtype": "stream_with_template_card",
            "stream": stream["stream"],
            "template_card": card,
        }
    content = markup(reply.text, "markdown", reply.mentions)
    return stream_body(stream_id_for(msg.message_id), content)


# --- template_card: text_notice with buttons (消息推送配置说明, 模板卡片类型) ---------------------
# The lengths are the documented "建议不超过" (characters); a card that would exceed one is
# not sent as a card at all: the Markdown says everything, and the buttons stay links in it.

CARD_TITLE_CHARS = 26  # main_title.title
CARD_DESC_CHARS = 30  # main_title.desc
CARD_SUB_CHARS = 112  # sub_title_text
CARD_VERTICAL = 4  # vertical_content_list items
CARD_VERTICAL_TITLE_CHARS = 26
CARD_VERTICAL_DESC_CHARS = 112
CARD_JUMPS = 3  # jump_list items
CARD_JUMP_TITLE_CHARS = 13
WECOM_CARD_LIMIT = 4096  # our guard on the encoded card, as for markdown


def button_card(title: str, buttons: Sequence[Button]) -> dict[str, Any]:
    """A text_notice card of a title and buttons: each button a jump (type 1, a URL), the card
    itself opening the first one (card_action is required, 42045 without it)."""
    jumps = [
        {"type": 1, "title": label[:CARD_JUMP_TITLE_CHARS], "url": url}
        for label, url in buttons[:CARD_JUMPS]
    ]
    card = {
        "card_type": "text_notice",
        "main_title": {"title": title[:CARD_TITLE_CHARS]},
        "jump_list": jumps,
        "card_action": {"type": 1, "url": buttons[0][1]},
    }
    return {"msgtype": "template_card", "template_card": card}


def _plain_line(line: str) -> str:
    return _ITEM.sub(r"\1· ", to_plain(line)).strip()


class _NoCard(Exception):
    """The text does not fit a text_notice card."""


_CLAUSE = re.compile("[：，。；]")


def _item_of(line: str) -> dict[str, str]:
    """A vertical item of one plain line: the line as its title when it is short enough, else
    its first clause as the title and the rest as the description."""
    if len(line) <= CARD_VERTICAL_TITLE_CHARS:
        return {"title": line, "desc": ""}
    cut = _CLAUSE.search(line, 1, CARD_VERTICAL_TITLE_CHARS + 1)
    if cut is None or len(line) - cut.end() > CARD_VERTICAL_DESC_CHARS:
        raise _NoCard
    return {"title": line[: cut.start()], "desc": line[cut.end() :]}


def _joined(head: str, line: str, most: int) -> str | None:
    out = f"{head}\n{line}" if head else line
    return out if len(out) <= most else None


def _card_layout(lines: list[str]) -> tuple[str, str, str, list[dict[str, str]]]:
    """(title, desc, sub title, vertical items) of a message's lines, in reading order: the
    first line the title, a short second line its desc, plain lines the sub title while it
    holds them, then items: a bold line opens one (its title), the list items under it fill
    its description, any other line opens one of its own (`_item_of`)."""
    title = _plain_line(lines[0])
    rest = lines[1:]
    desc = ""
    if rest and not _is_bold(rest[0]) and len(_plain_line(rest[0])) <= CARD_DESC_CHARS:
        desc, rest = _plain_line(rest[0]), rest[1:]
    sub = ""
    items: list[dict[str, str]] = []
    for raw in rest:
        line = _plain_line(raw)
        if _is_bold(raw):
            if len(line) > CARD_VERTICAL_TITLE_CHARS:
                raise _NoCard
            items.append({"title": line, "desc": ""})
            continue
        if not items and (joined := _joined(sub, line, CARD_SUB_CHARS)) is not None:
            sub = joined
            continue
        under = items and raw.lstrip().startswith("- ")  # a list item under the bold line
        if under and (joined := _joined(items[-1]["desc"], line, CARD_VERTICAL_DESC_CHARS)):
            items[-1]["desc"] = joined
            continue
        items.append(_item_of(line))
    if len(title) > CARD_TITLE_CHARS or len(items) > CARD_VERTICAL:
        raise _NoCard
    return title, desc, sub, items


def _is_bold(line: str) -> bool:
    line = line.strip()
    return len(line) > 4 and line.startswith("**") and line.endswith("**")


def webhook_card_body(text: str, mentions: Sequence[str] = ()) -> dict[str, Any] | None:
    """The group robot's template_card of a neutral text that ends with buttons, or None (then
    Markdown): no buttons, someone to @ (a card cannot), or text beyond the card's lengths
    (`_card_layout` says where each line goes)."""
    body, buttons = split_actions(text)
    if not buttons or [m for m in mentions if m]:
        return None
    lines = [line for line in body.split("\n") if line.strip()]
    if not lines:
        return None
    try:
        title, desc, sub, items = _card_layout(lines)
    except _NoCard:
        return None
    out = button_card(title, buttons)
    card = out["template_card"]
    if desc:
        card["main_title"]["desc"] = desc
    if sub:
        card["sub_title_text"] = sub
    if items:
        card["vertical_content_list"] = [
            {"title": i["title"], **({"desc": i["desc"]} if i["desc"] else {})} for i in items
        ]
    return out if len(encode_json(out)) <= WECOM_CARD_LIMIT else None


def webhook_url(api_base: str, key: str) -> str:
    """`POST <base>/cgi-bin/webhook/send?key=<KEY>`; the key is the only credential (消息推送配置说明)."""
    return f"{api_base.rstrip('/')}/cgi-bin/webhook/send?key={quote(key, safe='')}"


def webhook_text_body(content: str, mentioned_list: Sequence[str] = ()) -> dict[str, Any]:
    """`text`: ≤ 2048 bytes; mentions by userid, "@all" for everyone (消息推送配置说明)."""
    body: dict[str, Any] = {"content": content}
    if mentioned_list:
        body["mentioned_list"] = list(mentioned_list)
    return {"msgtype": "text", "text": body}


def webhook_markdown_body(content: str) -> dict[str, Any]:
    """`markdown`: ≤ 4096 bytes; mentions only as `<@userid>` inside the content (消息推送配置说明)."""
    return {"msgtype": "markdown", "markdown": {"content": content}}


def webhook_markdown_v2_body(content: str) -> dict[str, Any]:
    """`markdown_v2`: ≤ 4096 bytes, lists and tables but no mentions or colours (消息推送配置说明)."""
    return {"msgtype": "markdown_v2", "markdown_v2": {"content": content}}


def webhook_bodies(
    text: str, mentions: Sequence[str] = (), kind: str = "markdown"
) -> list[dict[str, Any]]:
    """Group-robot bodies for neutral text, split into numbered parts within the byte limit of
    `kind`. Mentions go on the first part; markdown_v2 cannot mention, so a message with
    mentions falls back to markdown."""
    if kind == "markdown_v2" and mentions:
        kind = "markdown"
    card = webhook_card_body(text, mentions) if kind != "text" else None
    if card is not None:
        return [card]
    if kind == "text":
        parts = fit_markup(text, "text")
        return [webhook_text_body(p, mentions if i == 0 else ()) for i, p in enumerate(parts)]
    if kind == "markdown":
        # "@all" has no markdown form; markup() drops it.
        return [webhook_markdown_body(p) for p in fit_markup(text, kind, None, mentions)]
    if kind == "markdown_v2":
        return [webhook_markdown_v2_body(p) for p in fit_markup(text, kind)]
    raise ValueError(f"unsupported kind {kind!r}")


def _has_table(text: str) -> bool:
    lines = [line.strip() for line in text.split("\n")]
    rows = [line for line in lines if line.startswith("|") and line.endswith("|")]
    return len(rows) >= 2 and any(set(r.replace("|", "").strip()) <= set("-: ") for r in rows)


def wecom_kind(text: str, mentions: Sequence[str]) -> str:
    """markdown by default; text when everyone is @-mentioned (markdown cannot @all); markdown_v2
    when the text holds a table and mentions nobody (v2 renders tables but cannot @,
    https://developer.work.weixin.qq.com/document/path/91770)."""
    if ALL in mentions:
        return "text"
    if not mentions and _has_table(text):
        return "markdown_v2"
    return "markdown"
