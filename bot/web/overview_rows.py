"""The overview's two long lists as HTML, built in Python: who is behind, and every
department's progress row. At 1,000 departments the same markup through Jinja macros and loops
cost more than reading the data (bench/admin.py measures it); overview.html says where each
goes."""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup, escape


def behind_rows(rows: list[dict], url: Callable[[str], str]) -> Markup:
    """One <li> per department of cockpit.behind()'s rows."""
    out = []
    for r in rows:
        name = escape(r["department"])
        why = Markup(" · ").join(escape(x) for x in r["reasons"])
        out.append(
            f'\n  <li data-department="{name}" data-rank="{r["rank"]}" data-points="{r["points"]}">'
            f'\n    <a href="{escape(url(r["department"]))}" data-focus="{name}">'
            f'\n      <span class="rank">{r["rank"]}</span>'
            f'\n      <span class="who"><b>{name}</b><small>{why or "已全部完成"}</small></span>'
            f'\n      <span class="pts">{r["points"]}<small>分</small></span>'
            "\n    </a>\n  </li>\n"
        )
    return Markup("".join(out))


def progress_rows(
    rows: list[dict],
    url: Callable[[str], str],
    submissions_url: Callable[[str], str],
    local_time: Callable[[str], str],
) -> Markup:
    """One <tr> per department of views.department_progress()."""
    out = []
    for p in rows:
        name = escape(p["department"])
        by = p["by_status"]
        sub = p["submission"]
        if sub:
            last = (
                f'<td class="nowrap submission" data-sort="{escape(sub["at"])}">'
                f'<a href="{escape(submissions_url(p["department"]))}">'
                f"第{sub['version']}版 · {escape(local_time(sub['at']))}</a></td>"
            )
        else:
            last = '<td class="nowrap submission muted" data-sort="">未报送</td>'
        out.append(
            f'<tr data-department="{name}">'
            f'<td class="num" data-sort="{p["rank"]}">{p["rank"]}</td>'
            f'<td class="nowrap"><a href="{escape(url(p["department"]))}" data-focus="{name}">'
            f"{name}</a></td>"
            f'<td class="num" data-sort="{p["percent"]}">{p["percent"]}%</td>'
            f'<td class="num done-count" data-sort="{p["done_count"]}">'
            f"{p['done_count']}/{p['total_count']}</td>"
            f'<td class="num">{p["lead_count"]}</td>'
            f'<td class="num">{by.get("returned", 0)}</td>'
            f'<td class="num hide-sm">{by.get("in_progress", 0)}</td>'
            f'<td class="num hide-sm">{by.get("todo", 0)}</td>'
            f"{last}</tr>\n"
        )
    return Markup("".join(out))
