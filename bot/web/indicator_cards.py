"""An indicator page's unit cards as HTML, built in Python: an indicator of a province has
hundreds of units, each card with its materials, review forms and comment thread, which the
Jinja loop with its two macros rendered in most of the page's time. The markup is the one
indicator.html, _materials.html and _thread.html wrote, character for character (the test
tests/http/test_indicator_cards.py renders both and compares them); a change to the card is
made here, and to those macros where the other pages (待审核) use them."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

from markupsafe import Markup
from markupsafe import escape as _escape

from bot.texts import link_problem

_PLAIN = re.compile(r"[<>&'\"]")


def escape(value) -> str:
    """markupsafe.escape's text (as Jinja's autoescape writes a value), without making a Markup
    of the many values that hold nothing to escape (department names, labels, dates)."""
    s = value if type(value) is str else str(value)
    return str(_escape(s)) if _PLAIN.search(s) else s


class Urls(NamedTuple):
    """Where an indicator page's forms and links go (its routes' url_for, built once)."""

    review: str  # the review forms' action
    comment: str  # the comment forms' action
    page: str  # the page itself (a comment's way back)
    file: Callable[[str, str], str]  # (sha256, name) -> a stored file's link


def _material(m: dict, file_url: Callable[[str, str], str]) -> str:
    """One <li> of _materials.html's list, its surrounding whitespace included."""
    out = ["\n    <li>\n      "]
    if m.get("secret"):
        out.append('<span class="badge secret">涉密</span> ')
    out.append("\n      ")
    if m.get("clickable"):
        out.append(
            f'<a href="{escape(m["url"])}" target="_blank" rel="noopener noreferrer">'
            f"{escape(m['name'])}</a>\n      "
        )
    elif m.get("url"):
        out.append(f"{escape(m['title'])} <code>{escape(m['url'])}</code>\n      ")
    elif m.get("file"):
        href = file_url(m["file"]["sha256"], m["name"])
        out.append(f'<a href="{escape(href)}" download>{escape(m["name"])}</a>\n      ')
    else:
        out.append(str(escape(m.get("title", ""))))
    kind = m.get("kind")
    label = m.get("kind_label") or ("网上链接" if kind == "link" else "纸质")
    out.append(f'\n      <span class="muted">（{escape(label)}')
    if kind == "file":
        out.append(f" · 存档：{escape(m.get('location'))}")
    elif m.get("location"):
        out.append(f" · 存放：{escape(m['location'])}")
    elif kind == "paper":
        out.append(" · 未写存放位置")
    if m.get("added_by"):
        out.append(f" · {escape(m['added_by'])}")
    out.append("）</span>\n      ")
    link = m.get("link")
    if link:
        out.append("\n        ")
        if link.get("ok"):
            status = link.get("status")
            out.append(
                '<span class="link-ok">✓ 可访问'
                + (f"（{escape(status)}）" if status else "")
                + "</span>\n        "
            )
        else:
            out.append(f'<span class="link-bad">⚠ 无法打开（{escape(link_problem(link))}）</span>')
        out.append("\n        ")
        if link.get("title"):
            out.append(f'<span class="muted">网页标题：{escape(link["title"])}</span>')
        out.append("\n      ")
    elif kind == "link":
        out.append('<span class="muted">尚未检查</span>')
    out.append("\n    </li>\n    ")
    return "".join(out)


def _thread(
    comments: list[dict],
    ind_id: int,
    dept: str,
    back: str,
    action: str,
    csrf: str,
    local_time: Callable[[str], str],
) -> str:
    """_thread.html's `thread` macro for one unit (the caller's action and token given)."""
    out = [f'\n<section class="thread" data-thread="{ind_id}|{dept}">\n  <p><b>往来留言</b>']
    if comments:
        out.append(f' <span class="muted">{len(comments)} 条</span>')
    out.append("</p>\n  ")
    if comments:
        out.append('\n  <ol class="comments">\n    ')
        for c in comments:
            office = c.get("side") == "office"
            who = "依法治区办" if office else escape(c.get("name", ""))
            out.append(
                f'\n    <li class="comment {"from-office" if office else "from-department"}">'
                f'\n      <span class="muted">{who} · {escape(local_time(c.get("at", "")))}</span>'
                f'\n      <p class="typed">{escape(c.get("text", ""))}</p>\n    </li>\n    '
            )
        out.append("\n  </ol>\n  ")
    out.append(
        f'\n  <form method="post" action="{action}" class="inline comment-form">'
        f'\n    <input type="hidden" name="csrf" value="{csrf}">'
        f'\n    <input type="hidden" name="department" value="{dept}">'
        f'\n    <input type="hidden" name="back" value="{back}">'
        f'\n    <textarea name="text" maxlength="500" rows="2" placeholder="给{dept}留言（会推送到该部门群）"'
        f' aria-label="给{dept}留言" required></textarea>'
        '\n    <button type="submit" class="comment-send">留言</button>\n  </form>\n</section>\n'
    )
    return "".join(out)


def cards(
    d: dict,
    threads: dict,
    urls: Urls,
    who: Callable[[str], str],
    anchor: Callable[[str], str],
    local_time: Callable[[str], str],
    csrf: str,
    land: str = "",
    messages: Sequence[tuple[str, str]] = (),
) -> Markup:
    """Every unit's <article> of `d` (views.indicator_detail), as indicator.html's loop wrote
    them: state, reason, materials, 报送说明, 整改说明 on a ★ item, the review forms, the thread.
    `threads`: store.comments.threads of its units; `who`: views.person_namer. `messages`
    ((category, text), flashed) are shown under the header of the card whose anchor is `land`:
    the card a 通过/退回/留言 came back to, where the person is looking."""
    ind_id = d["id"]
    review_url, comment_url, page_url = escape(urls.review), escape(urls.comment), urls.page
    token = escape(csrf)
    star = d["star"]
    out: list[str] = []
    for a in d["assignments"]:
        dept = escape(a["department"])
        status = escape(a["status"])
        anc = anchor(a["department"])
        out.append(
            f'\n<article class="card unit st-{status}" id="u-{escape(anc)}"'
            f' data-department="{dept}">\n  <header>\n    <h3>{dept}</h3>'
            f'\n    <span class="badge">{escape(a["role_label"])}</span>'
            f'\n    <span class="badge st-{status} status">{escape(a["status_label"])}</span>\n    '
        )
        if a["updated_at"]:
            out.append(
                f'<span class="muted">{escape(who(a["updated_by"]))} · '
                f"{escape(local_time(a['updated_at']))}</span>"
            )
        out.append("\n  </header>\n  ")
        if messages and anc == land:
            out.append(
                '<ul class="flash" role="status">'
                + "".join(f'<li class="{escape(c)}">{escape(m)}</li>' for c, m in messages)
                + "</ul>\n  "
            )
        if a["reason"]:
            label = "退回原因" if a["status"] == "returned" else "原因"
            out.append(
                f'<p><b>{label}：</b><span class="typed reason-text">{escape(a["reason"])}</span>'
            )
            if a["rework"]:
                out.append(f' <span class="badge rework">返工期限 {escape(a["rework"])}</span>')
            out.append("</p>")
        out.append("\n  ")
        if a["materials"]:
            out.append('\n  \n  <ol class="materials">\n    ')
            out += [_material(m, urls.file) for m in a["materials"]]
            out.append("\n  </ol>\n\n  ")
        else:
            out.append('<p class="muted">尚无材料。</p>')
        out.append("\n  ")
        if a["explanation"]:
            out.append(
                '<p><b>报送说明：</b></p><p class="typed explanation">'
                f"{escape(a['explanation'])}</p>"
            )
        out.append("\n  ")
        if star:
            out.append(
                '<p class="rectification"><b>整改说明：</b></p>'
                f'<p class="typed">{escape(a["rectification"] or "尚未填写")}</p>'
            )
        out.append(
            f'\n  <form method="post" action="{review_url}" class="inline review">'
            f'\n    <input type="hidden" name="csrf" value="{token}">'
            f'\n    <input type="hidden" name="department" value="{dept}">'
            '\n    <button type="submit" name="action" value="approve" class="ok approve">通过</button>'
            "\n  </form>"
            f'\n  <form method="post" action="{review_url}" class="inline review">'
            f'\n    <input type="hidden" name="csrf" value="{token}">'
            f'\n    <input type="hidden" name="department" value="{dept}">'
            '\n    <input type="hidden" name="action" value="return">'
            '\n    <input type="text" name="reason" maxlength="500" placeholder="退回原因（必填）"'
            ' aria-label="退回原因" class="reason" required>'
            '\n    <label>返工期限（可不填） <input type="date" name="rework" aria-label="返工期限"></label>'
            '\n    <button type="submit" class="bad return">退回</button>\n  </form>\n  '
        )
        back = escape(f"{page_url}#u-{anc}")
        comments = threads.get((ind_id, a["department"]), [])
        out.append(_thread(comments, ind_id, dept, back, comment_url, token, local_time))
        out.append("\n</article>\n")
    return Markup("".join(out))


def history_rows(history: list[dict], who: Callable[[str], str], local_time) -> Markup:
    """The history table's <tr>s (views.audit_dict of each entry), as indicator.html's loop
    wrote them."""
    out = []
    for e in history:
        change = ""
        if e["before_status"] or e["after_status"]:
            change = f"{escape(e['before_status'] or '—')} → {escape(e['after_status'] or '—')}"
        out.append(
            f'\n  <tr><td class="nowrap">{escape(local_time(e["at"]))}</td>'
            f"<td>{escape(who(e['actor']))}</td><td>{escape(e['action_label'])}</td>"
            f"<td>{escape(e['department'])}</td>\n    <td>{change}</td>"
            f'\n    <td class="typed">{escape(e["note"])}</td></tr>\n  '
        )
    return Markup("".join(out))
