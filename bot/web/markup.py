"""The reply Markdown subset as safe HTML, for the sandbox chat and outbox.

Escape first, then `**bold**`, `- ` items, `> ` quotes, line breaks and `[title](url)` links,
the last only for http(s) URLs: anything else stays plain text.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from bot.web.views import is_web_url

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]+)\)")


def _link(m: re.Match) -> str:
    title, url = m.group(1), m.group(2)
    # `url` is already escaped; unescape only to check the scheme.
    raw = url.replace("&amp;", "&")
    if not is_web_url(raw):
        return f"{title}（{url}）"
    return f'<a href="{url}" target="_blank" rel="noopener noreferrer">{title or url}</a>'


def _inline(escaped: str) -> str:
    return _BOLD.sub(r"<strong>\1</strong>", _LINK.sub(_link, escaped))


def render_markdown(text: str) -> Markup:
    lines: list[str] = []
    in_list = False
    for line in (text or "").splitlines():
        safe = str(escape(line))
        item = line.lstrip().startswith("- ")
        if item and not in_list:
            lines.append("<ul>")
            in_list = True
        elif not item and in_list:
            lines.append("</ul>")
            in_list = False
        if item:
            lines.append(f"<li>{_inline(safe.lstrip()[2:])}</li>")
        elif line.lstrip().startswith("&gt;") or safe.lstrip().startswith("&gt;"):
            lines.append(f"<blockquote>{_inline(safe.lstrip()[4:].lstrip())}</blockquote>")
        else:
            lines.append(_inline(safe) + "<br>")
    if in_list:
        lines.append("</ul>")
    out = "".join(lines)
    if out.endswith("<br>"):
        out = out[: -len("<br>")]
    return Markup(out)
