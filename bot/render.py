"""The neutral reply text (a small Markdown subset): what it holds, plain-text and title forms,
and splitting a message that exceeds a byte limit into numbered parts. Each platform's dialect
and byte limits live in its package (`markup` in bot/platforms/<name>/bodies.py).

The subset: plain lines, `**bold**`, `- ` list items, `[title](url)` links and `> ` quotes.
Only Duban writes markup: text that a person or a web page wrote (a nickname, a page title, a
material's name or URL, a reason) goes into a message through `inert` and `link`, which take
away what is syntax in any dialect a message is rendered to.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote

ALL = "@all"  # mention everyone

T = TypeVar("T")

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]+)\)")
_QUOTE = re.compile(r"^\s*>(?:[ \t]|$)")
_LIST = re.compile(r"^\s*- ")
_PART = re.compile(r"\A\(\d+/\d+\)\n")  # the numbering line added by split_message


# Syntax in some dialect: links and images ([, ], ![…](…)), WeCom markdown mentions and tags
# (<@userid>, <font color>), DingTalk mentions (@userid, @mobile, @all) and HTML entities that a
# client may decode into either, bold and code spans, headings. Each becomes its full-width
# twin, which reads the same to a person and is nothing to a parser. Line breaks become spaces,
# so the text cannot start a line of its own (a heading, a quote, a list item).
# WeCom markdown: https://developer.work.weixin.qq.com/document/path/91770 (群机器人配置说明)
# DingTalk: https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages
_INERT = str.maketrans(
    {
        "[": "［",
        "]": "］",
        "<": "＜",
        ">": "＞",
        "@": "＠",
        "&": "＆",
        "*": "＊",
        "`": "｀",
        "#": "＃",
        "\\": "＼",
        "|": "｜",
    }  # fmt: skip
)
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Characters a link target may not hold as typed (they would end it early or start another),
# percent-encoded; the rest, Chinese included, stays readable.
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f()\[\]<>\"'`\\{}|^]")


def inert(text: str) -> str:
    """Someone else's text as it can safely stand in a message: readable, never markup."""
    return _BREAKS.sub(" ", text).translate(_INERT)


def link(title: str, url: str) -> str:
    """A link of ours to a URL someone submitted: the title made inert, and the target with
    every character that could close it or open another link percent-encoded (the address a
    browser opens is the same)."""
    target = _URL_UNSAFE.sub(lambda m: quote(m.group(0), safe=""), url)
    return f"[{inert(title or url)}]({target})"


def has_markup(text: str) -> bool:
    """Whether the text uses any of the subset's markup, i.e. needs a markdown message."""
    return any(
        _BOLD.search(line) or _LINK.search(line) or _QUOTE.match(line) or _LIST.match(line)
        for line in text.split("\n")
    )


def _plain_link(match: re.Match[str]) -> str:
    title, url = match.group(1).strip(), match.group(2)
    # The URL stays visible: text messages cannot hide it behind a title.
    return url if not title or title == url else f"{title} {url}"


def to_plain(text: str) -> str:
    """Strip the subset's markup, keeping every URL, for text-only messages."""
    lines = []
    for line in text.split("\n"):
        line = _QUOTE.sub("", line, count=1)
        line = _LINK.sub(_plain_link, line)
        line = _BOLD.sub(r"\1", line)
        lines.append(line.rstrip())
    return "\n".join(lines).strip("\n")


def title_of(text: str, max_chars: int = 30) -> str:
    """A short plain title (DingTalk markdown shows it in the chat list): the first non-empty line."""
    for raw in text.split("\n"):  # line by line: only the first non-empty one is needed
        line = _LIST.sub("", to_plain(raw)).strip()
        if line and not _PART.match(line + "\n"):
            return line if len(line) <= max_chars else line[: max_chars - 1] + "…"
    return "消息"


def utf8_len(s: str) -> int:
    return len(s.encode("utf-8"))


def _prefix(i: int, n: int) -> str:
    return f"({i}/{n})\n"


def _split_chars(s: str, budget: int) -> list[str]:
    """Cut one overlong line at character boundaries into pieces of at most `budget` bytes."""
    pieces, cur, size = [], [], 0
    for ch in s:
        w = utf8_len(ch)
        if size + w > budget and cur:
            pieces.append("".join(cur))
            cur, size = [], 0
        cur.append(ch)
        size += w
    if cur:
        pieces.append("".join(cur))
    return pieces


def _pack(text: str, budget: int) -> list[str]:
    """Greedy line packing; the chunks concatenate back to exactly `text`."""
    lines = text.split("\n")
    tokens = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    chunks: list[str] = []
    cur, size = "", 0
    for tok in tokens:
        w = utf8_len(tok)
        if size + w <= budget:
            cur, size = cur + tok, size + w
            continue
        if cur:
            chunks.append(cur)
            cur, size = "", 0
        if w <= budget:
            cur, size = tok, w
            continue
        pieces = _split_chars(tok, budget)
        chunks.extend(pieces[:-1])
        cur, size = pieces[-1], utf8_len(pieces[-1])
    if cur:
        chunks.append(cur)
    return chunks


def split_message(text: str, limit_bytes: int) -> list[str]:
    """Split `text` into parts of at most `limit_bytes` UTF-8 bytes each.

    A text that fits is returned whole. Otherwise it is cut at line boundaries (a single overlong
    line at character boundaries, never inside a character) and each part starts with an
    "(i/n)" line, counted in the budget. Removing those prefix lines and concatenating the parts
    gives back the original text exactly.
    """
    if utf8_len(text) <= limit_bytes:
        return [text]
    width = 1
    while True:
        overhead = utf8_len(_prefix(10**width - 1, 10**width - 1))
        budget = limit_bytes - overhead
        if budget < 4:  # room for at least one character of any width
            raise ValueError(f"limit of {limit_bytes} bytes is too small to split into parts")
        chunks = _pack(text, budget)
        if len(str(len(chunks))) <= width:
            n = len(chunks)
            return [_prefix(i, n) + chunk for i, chunk in enumerate(chunks, 1)]
        width += 1


def strip_part_prefix(part: str) -> str:
    """The inverse of the numbering added by split_message, for reassembly."""
    return _PART.sub("", part, count=1)


def truncate_message(text: str, limit_bytes: int, marker: str = "\n…") -> str:
    """Cut `text` to `limit_bytes` at a line boundary when possible, ending with `marker`."""
    if utf8_len(text) <= limit_bytes:
        return text
    budget = limit_bytes - utf8_len(marker)
    if budget < 4:
        raise ValueError(f"limit of {limit_bytes} bytes is too small")
    head = _pack(text, budget)[0]
    return head.rstrip("\n") + marker


def fit_parts(
    text: str, limit: int, draw: Callable[[str, bool], T], measure: Callable[[T], int]
) -> list[T]:
    """Split the neutral `text` into numbered parts and draw each (`first` is True for the
    first part) so that every drawing measures at most `limit`."""
    budget = limit
    while True:
        parts = split_message(text, budget)
        drawn = [draw(part, i == 0) for i, part in enumerate(parts)]
        worst = max(measure(d) for d in drawn)
        if worst <= limit:
            return drawn
        # Rendering grew a part (markdown breaks, mentions, JSON escaping): shrink and retry.
        budget -= max(worst - limit, budget // 10, 1)
        if budget < 32:
            raise ValueError("message cannot be fitted into the platform limit")


# --- buttons ---------------------------------------------------------------------------------
# A message may end with one line of buttons: "➜ [打开填报页](url) ｜ [查看第12项](url)".
# Where the platform has cards with buttons (DingTalk ActionCard, WeCom template_card) the
# line becomes the card's buttons; everywhere else it stays what it reads as, a line of links.
# Only Duban writes it: `inert` turns a person's "[" into "［", so no text of theirs can.

ACTIONS_MARK = "➜ "
_ACTIONS_SEP = " ｜ "
_BUTTON = r"\[([^\[\]\n]+)\]\(([^()\s]+)\)"
_ACTIONS = re.compile(
    rf"^{re.escape(ACTIONS_MARK)}{_BUTTON}(?:{re.escape(_ACTIONS_SEP)}{_BUTTON})*$"
)
_ONE_BUTTON = re.compile(_BUTTON)

Button = tuple[str, str]  # (label, url)


def actions_line(buttons: list[Button] | tuple[Button, ...]) -> str:
    """The buttons line of a message ("" for none). Labels are Duban's own words; URLs are
    Duban's own links (made safe as any link is)."""
    if not buttons:
        return ""
    return ACTIONS_MARK + _ACTIONS_SEP.join(link(label, url) for label, url in buttons)


def with_actions(text: str, buttons: list[Button] | tuple[Button, ...]) -> str:
    """`text` with the buttons line appended (unchanged when there are none)."""
    line = actions_line(buttons)
    return f"{text.rstrip(chr(10))}\n{line}" if line else text


def split_actions(text: str) -> tuple[str, list[Button]]:
    """(the text without its buttons line, the buttons); (text, []) when it has none."""
    body, _, last = text.rstrip("\n").rpartition("\n")
    if not _ACTIONS.match(last):
        return text, []
    return body, [(m.group(1), m.group(2)) for m in _ONE_BUTTON.finditer(last)]
