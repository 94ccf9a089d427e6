"""What a pasted list of web links and names means: where each address ends, which name belongs to
which link, and which words (网址：, 名称：) are only labels.

Pure functions over the text as typed. Addresses are folded to half-width (they are parsed); names
are kept exactly as written, with only the separators around them removed. Whatever cannot be
read unambiguously is refused with a sentence saying why, never stored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot import texts

MAX_URL = 2000
MAX_NAME = 200


class PasteError(ValueError):
    """The paste cannot be understood; the text says why, in Chinese."""


@dataclass(frozen=True)
class LinkGroup:
    """Links that share one name ("" = none given: the page title is used later)."""

    name: str
    urls: tuple[str, ...]


# Characters that can be part of a web address as typed: RFC 3986's (percent-encodings are ASCII),
# plus the full-width forms of letters, digits and the few ASCII signs an input method may have
# turned full-width inside an address. Chinese characters and the full-width punctuation of Chinese
# prose (，。；、！（）【】「」) are not among them, so they end an address.
_FW_ALNUM = "\uff10-\uff19\uff21-\uff3a\uff41-\uff5a"
_URL_CHAR = rf"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%{_FW_ALNUM}／．：？＝＆％＃＿－～＋＠]"
_URL = re.compile(
    rf"(?<![A-Za-z0-9+.\-{_FW_ALNUM}])[A-Za-z\uff21-\uff3a\uff41-\uff5a]"
    rf"[A-Za-z0-9+.\-{_FW_ALNUM}]*[:：][/／][/／]{_URL_CHAR}*"
)
_SCHEME_AT = re.compile(r"(?i)https?://")  # in the folded address: where another one starts
_TRAILING = ".,;:!?'*"  # sentence punctuation after an address is not part of it

# A web address written without http(s)://: refused rather than taken for a name.
_BARE = re.compile(
    r"(?i)(?<![\w.])(?:www\.[^\s]+|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:gov\.cn|com\.cn|com|cn|net|org)"
    r"(?:[/:?#][^\s]*)?(?![\w.]))"
)

# Labels: 「网址：…」「名称：…」 are how people lay a link out; the label is never part of a name.
_URL_WORDS = (
    "网址",
    "链接地址",
    "链接",
    "网页地址",
    "网页链接",
    "网页",
    "地址",
    "网站",
    "url",
    "link",
)
_NAME_WORDS = ("材料名称", "文件名称", "材料标题", "文件标题", "名称", "标题", "题目", "文件名")
_NAME_WORDS += ("name", "title")
_NAME_LABEL = re.compile(rf"(?i)^(?:{'|'.join(_NAME_WORDS)})\s*[:：]")
_URL_LABEL = re.compile(rf"(?i)(?:{'|'.join(_URL_WORDS)})\s*[:：]$")
_LABELS = {w.lower() for w in _URL_WORDS + _NAME_WORDS}

# A list marker at the start of a pasted line: 1. 1、 (1) （1） ①.
_LIST_MARK = re.compile(r"^(?:[（(]\d{1,2}[)）]|\d{1,2}[.、．](?!\d)|[\u2460-\u2473])\s*")
_EDGE = " \t\u3000,，;；:：、。.|｜-—–>→=" + "\u200b\ufeff"
_OPEN = "（(【[「『《<“‘〔〖"
_CLOSE = "）)】]」』》>”’〕〗"


def read_links(raw: str) -> tuple[LinkGroup, ...]:
    """The links of a paste and their names, in order, each link once.

    Every line is read on its own when each line that holds a name also holds a link ("link
    name", "name link", "名称：… 网址：…"); within a line a name belongs to the links next to
    it: after it when the line starts with a name, before it when it starts with a link. When a
    line holds only a name, the name and its link are on neighbouring lines, and the whole paste
    is read as one sequence by the same rule. A name that belongs to no link is refused.
    """
    lines = [_items(line) for line in raw.splitlines()]
    lines = [items for items in lines if items]
    if not any(url for items in lines for url, _ in items if url):
        bare = next((_bare(name) for items in lines for _, name in items if _bare(name)), "")
        raise PasteError(
            texts.BAD_URL.format(url=texts.quoted(bare[:80])) if bare else texts.NEED_URL
        )
    if any(all(not url for url, _ in items) for items in lines):
        groups = _pair([it for items in lines for it in items])
    else:
        groups = [g for items in lines for g in _pair(items)]
    return _once_each(groups)


def _items(line: str) -> list[tuple[str, str]]:
    """(url, "") and ("", name) items of one line, in order; empty names dropped."""
    out: list[tuple[str, str]] = []
    pos = 0

    def text(chunk: str, line_start: bool) -> None:
        name = clean_name(chunk, line_start)
        if name:
            bare = _bare(name)
            if bare:
                raise PasteError(texts.BAD_URL.format(url=texts.quoted(bare[:80])))
            if len(name) > MAX_NAME:
                raise PasteError(texts.TOO_LONG.format(n=MAX_NAME))
            out.append(("", name))

    for m in _URL.finditer(line):
        text(line[pos : m.start()], pos == 0)
        start = m.start()
        folded = unicodedata.normalize("NFKC", m.group(0))  # one character for one here
        cuts = [c.start() for c in _SCHEME_AT.finditer(folded) if c.start() > 0]
        for a, b in zip([0, *cuts], [*cuts, len(folded)], strict=True):
            piece = folded[a:b]
            keep = _trimmed(piece)
            if keep:
                out.append((_checked(piece[:keep]), ""))
            if b == len(folded):
                pos = start + a + keep  # the trimmed tail goes back to the text that follows
            else:
                text(line[start + a + keep : start + b], False)
    text(line[pos:], pos == 0)
    return out


def _trimmed(url: str) -> int:
    """How much of a matched address is the address: closing punctuation and a bracket that
    closes around it are not."""
    end = len(url)
    while end:
        c = url[end - 1]
        if c in _TRAILING:
            end -= 1
        elif c in ")]" and url[:end].count(c) > url[:end].count("(" if c == ")" else "["):
            end -= 1
        else:
            break
    return end


def _checked(url: str) -> str:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if url.partition(":")[0].lower() not in ("http", "https") or not host or len(url) > MAX_URL:
        raise PasteError(texts.BAD_URL.format(url=texts.quoted(url[:80])))
    return url


def _bare(name: str) -> str:
    m = _BARE.search(unicodedata.normalize("NFKC", name))
    return m.group(0) if m else ""


def clean_name(chunk: str, line_start: bool = False) -> str:
    """A name as written, without the separators, labels, list marker and stray brackets around
    it: 「，名称：证明事项告知承诺制文件」 -> 「证明事项告知承诺制文件」."""
    s, before = chunk, None
    while s != before:
        before = s
        s = _URL_LABEL.sub("", s.strip(), count=1)  # labels first: their colon marks them
        s = s.strip().strip(_EDGE).strip()
        if line_start:
            s = _LIST_MARK.sub("", s, count=1)
        s = _NAME_LABEL.sub("", s, count=1)
        if s.lower() in _LABELS:
            s = ""
        s = _strip_brackets(s)
    return s


def _strip_brackets(s: str) -> str:
    """Brackets that only wrapped a link: 「方案（」 before it, 「）」 after it."""
    while s and s[-1] in _OPEN:
        s = s[:-1]
    while s and s[0] in _CLOSE:
        s = s[1:]
    if s and s[-1] in _CLOSE and _OPEN[_CLOSE.index(s[-1])] not in s:
        s = s[:-1]
    if s and s[0] in _OPEN and _CLOSE[_OPEN.index(s[0])] not in s:
        s = s[1:]
    if s.startswith("[") and s.endswith("]") and s.count("[") == 1:  # Markdown [name](url)
        s = s[1:-1]
    return s


def _pair(items: list[tuple[str, str]]) -> list[LinkGroup]:
    """Names with the run of links next to them (see read_links)."""
    groups: list[LinkGroup] = []
    run: list[str] = []
    if items[0][0]:  # starts with a link: a name follows its links
        for url, name in items:
            if url:
                run.append(url)
                continue
            if not run:
                raise PasteError(_orphan(name))
            groups.append(LinkGroup(name, tuple(run)))
            run = []
        if run:
            groups.append(LinkGroup("", tuple(run)))
        return groups
    pending = ""  # starts with a name: a name precedes its links
    for url, name in items:
        if url:
            run.append(url)
            continue
        if pending and not run:
            raise PasteError(_orphan(pending))
        if pending:
            groups.append(LinkGroup(pending, tuple(run)))
            run = []
        pending = name
    if not run:
        raise PasteError(_orphan(pending))
    groups.append(LinkGroup(pending, tuple(run)))
    return groups


def _orphan(name: str) -> str:
    return (
        f"没看明白「{texts.quoted(name, 20)}」是哪个链接的名称。"
        "请每行写一个链接和它的名称，例如：https://… 名称"
    )


def _once_each(groups: list[LinkGroup]) -> tuple[LinkGroup, ...]:
    """Each link once, where it first appears (a paste often repeats a link)."""
    seen: set[str] = set()
    out = []
    for g in groups:
        urls = tuple(u for u in dict.fromkeys(g.urls) if u not in seen)
        seen.update(urls)
        if urls:
            out.append(LinkGroup(g.name, urls))
    return tuple(out)
