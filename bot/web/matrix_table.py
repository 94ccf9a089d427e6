"""The matrix's table body as HTML, built in Python: a campaign of 1,000 departments has
99,000 cells, which a Jinja loop renders in seconds; the same markup joined from strings
takes a small part of that (bench/admin.py measures it)."""

from __future__ import annotations

from markupsafe import Markup, escape

from bot.progress import STATUS_LABELS

GLYPH = {
    "todo": "·",
    "in_progress": "进",
    "done": "完",
    "not_applicable": "—",
    "returned": "退",
    "approved": "通",
}


def _cell_parts(status: str, role: str, match: bool) -> tuple[str, str]:
    """What a cell's markup holds before and after its link target, for one status, role and
    filter match: everything but the indicator, the department and its anchor."""
    cls = f"st-{status}" + (" lead" if role == "lead" else "") + ("" if match else " dim")
    head = f'<td class="{cls}" data-status="{status}"><a href="'
    tail = f' · {"牵头" if role == "lead" else "配合"} · {escape(STATUS_LABELS[status])}">{GLYPH.get(status, "")}</a></td>'
    return head, tail


def items(shown: list[dict], ind_base: str, anchor: str, starred) -> Markup:
    """A department's row as a list on a phone: one <li> per shown cell."""
    base, a = escape(ind_base), escape(anchor)
    out = []
    for c in shown:
        st, i = c["status"], c["indicator"]
        star = '<span class="star">★</span>' if i in starred else ""
        role = "牵头" if c["role"] == "lead" else "配合"
        out.append(
            f'<li data-status="{escape(st)}"><a href="{base}{i}#u-{a}">'
            f'<span class="badge st-{escape(st)}">{escape(STATUS_LABELS[st])}</span> 第{i}项{star}'
            f' <span class="muted">{role}</span></a></li>\n'
        )
    return Markup("".join(out))


def body(rows: list[dict], ind_base: str, focus: str, anchor) -> Markup:
    """The <tr> of every row, as the template wrote them (see matrix.html)."""
    parts: dict[tuple[str, str, bool], tuple[str, str]] = {}
    base = escape(ind_base)
    out: list[str] = []
    for row in rows:
        dept = row["department"]
        name = escape(dept)
        a = anchor(dept)
        focused = ' class="focus"' if dept == focus else ""
        out.append(f'<tr id="d-{a}" data-department="{name}"{focused}><td class="dept">{name}</td>')
        for c in row["cells"]:
            if c is None:
                out.append("<td></td>")
                continue
            key = (c["status"], c["role"], c["match"])
            p = parts.get(key)
            if p is None:
                p = parts[key] = _cell_parts(*key)
            i = c["indicator"]
            out.append(f'{p[0]}{base}{i}#u-{a}" title="第{i}项 · {name}{p[1]}')
        out.append("</tr>\n")
    return Markup("".join(out))
