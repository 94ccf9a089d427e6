"""Read models for the office's pages and the JSON API: plain dicts built from the store.

The admin templates and the API serialise the same dicts, so both show the same numbers.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from types import MappingProxyType
from urllib.parse import urlsplit

from bot import texts
from bot.catalog import Indicator
from bot.delivery import route_for
from bot.exports import actor_names, download_url
from bot.progress import (
    SECRET_LABEL,
    Assignment,
    Material,
    Role,
    Status,
    bonus_contributors,
    compute_scores,
    overall,
    rank,
    starred_ids,
)
from bot.records import AuditEntry
from bot.reports import SECRET_TEXT, actor_label
from bot.runtime import Runtime
from bot.timeline import Timeline

ACTION_LABELS = {
    "bind": "绑定",
    "unbind": "解绑",
    "bind_request": "申请绑定",
    "bind_approve": "同意绑定",
    "bind_refuse": "拒绝绑定",
    "submit": "提交链接",
    "paper": "纸质材料",
    "file": "上传文件",
    "explain": "报送说明",
    "done": "标记完成",
    "not_applicable": "不涉及",
    "delete": "删除材料",
    "place": "存放位置",
    "declare": "减分项声明",
    "rectify": "整改说明",
    "undo": "撤销",
    "approve": "通过",
    "return": "退回",
    "star": "星标",
    "event_date": "查验日期",
    "submit_catalog": "报送",
    "submission_files": "报送定稿",
    "submission_mailed": "报送邮件已发送",
    "submission_mail_error": "报送邮件待重试",
    "submission_mail_failed": "报送邮件发送失败",
    "export": "生成下载文件",
    "ranking": "推送排名",
    "fill_link": "发填报页链接",
    "fill_open": "打开填报页",
    "fill_refused": "填报页链接被拒",
    "fill_signin": "平台登录填报页",
    "signin_refused": "平台登录未完成",
    "inspect": "实地查验",
    "fill_upload_refused": "填报页上传被拒",
    "fill_file": "填报页下载文件",
}

# The mail states bot/exports.py and bot/jobs.py store on a submission's files record.
MAIL_LABELS = {
    "pending": "待发送",
    "sent": "已发送",
    "retrying": "重试中",
    "failed": "发送失败",
    "not_configured": "未配置邮件",
}
MAIL_BUILDING = "等待定稿"  # no files record yet: the build job has not run


def is_web_url(url: str) -> bool:
    """Only http(s) links with a host become clickable; everything else is shown as text."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def person_namer(rt: Runtime) -> Callable[[str], str]:
    """actor ("sandbox:zhangsan", "web:admin", "system:mail") -> who a reader knows: the
    person's name from org.yaml or the bindings, 管理后台, 系统; the bare id only when no name is
    known. Pages show this; the API keeps the actor ids."""
    names = actor_names(rt)
    return lambda actor: names.get(actor) or actor_label(actor)


def actor_named(rt: Runtime, name: str) -> str:
    """The actor a person's name (or 管理后台) stands for in the audit filter; anything else is
    taken as an actor id."""
    if name == "管理后台":
        return "web:admin"
    return next((a for a, n in actor_names(rt).items() if n == name), name)


def local_today(rt: Runtime) -> dt.date:
    return rt.calendar.local_today(rt.store.clock())


def deadlines(rt: Runtime) -> list[dict]:
    """The campaign's deadlines as of today, counted once per day and process (a page asks for
    them several times, and counting working days walks the holiday calendar)."""
    today = local_today(rt)
    campaign = rt.catalog.campaign
    cached = rt.cache.get("web_deadlines")
    if cached and cached[0] == today and cached[1] is campaign and cached[2] is rt.calendar:
        return [dict(d) for d in cached[3]]
    out = _deadlines(rt, today)
    rt.cache["web_deadlines"] = (today, campaign, rt.calendar, out)
    return [dict(d) for d in out]


def _deadlines(rt: Runtime, today: dt.date) -> list[dict]:
    out = []
    for d in rt.catalog.campaign.deadlines:
        days = (d.date - today).days
        out.append(
            {
                "key": d.key,
                "name": d.name,
                "date": d.date.isoformat(),
                "days_left": days,
                "workdays_left": rt.calendar.workdays_left(today, d.date),
                "passed": days < 0,
            }
        )
    return out


def timeline(rt: Runtime) -> Timeline:
    return Timeline(rt.catalog.campaign, rt.store.assignments.event_dates())


def events(rt: Runtime, tl: Timeline | None = None) -> list[dict]:
    """The campaign's events (the inspection): never counted down as deadlines; `date` is set
    by the office (or the data file) once known, `when` says it in words."""
    tl = tl or timeline(rt)
    today = local_today(rt)
    out = []
    for e in rt.catalog.campaign.events:
        day = tl.event_date(e)
        start, end = tl.event_span(e)
        out.append(
            {
                "key": e.key,
                "name": e.name,
                "title": texts.event_title(e),
                "window_start": e.window_start.isoformat(),
                "window_end": e.window_end.isoformat(),
                "date": day.isoformat() if day else None,
                "when": texts.event_when(tl, e),
                "days_left": (day - today).days if day else None,
                "workdays_left": rt.calendar.workdays_left(today, day) if day else None,
                "passed": end < today,
                "started": start <= today,
            }
        )
    return out


def demo_note(rt: Runtime) -> str:
    """Said on the sandbox and admin pages when the demo moved the campaign to today."""
    if not rt.demo_shift:
        return ""
    original = rt.catalog.campaign.shifted(-rt.demo_shift)
    submit = original.deadlines[0].date if original.deadlines else original.issued_on
    return (
        f"演示模式：为便于体验，创建活动的日期整体后移了 {rt.demo_shift // 7} 周，让今天落在通知印发后的第一周"
        f"（原通知 {original.issued_on.year}年{original.issued_on.month}月{original.issued_on.day}日印发、"
        f"{submit.month}月{submit.day}日报送）；数据文件 indicators.yaml 未改动。"
    )


def is_overdue_now(rt: Runtime) -> bool:
    """An open assignment is overdue once the first deadline (资料目录报送) has passed."""
    first = rt.catalog.campaign.deadlines[0].date if rt.catalog.campaign.deadlines else None
    return bool(first and local_today(rt) > first)


def starred(rt: Runtime) -> frozenset[int]:
    return starred_ids(rt.catalog, rt.store.assignments.star_overrides())


_STATUS_VALUES = tuple(s.value for s in Status)
_COUNTS: tuple = (None, None, None)  # (statuses, regular ids, what _status_counts found)


def _status_counts(statuses, regular) -> tuple[dict, dict, dict]:
    """Over the regular items: each department's count per status, its lead items, and the
    district's count per status. Kept for the store's read-only status map (see _by_department)."""
    global _COUNTS
    last, last_regular, found = _COUNTS
    if last is statuses and last_regular == regular:
        return found
    counts: dict[str, dict[str, int]] = {}
    leads: dict[str, int] = {}
    district = dict.fromkeys(_STATUS_VALUES, 0)
    for (ind, dept), (role, status) in statuses.items():
        if ind not in regular:
            continue
        c = counts.get(dept)
        if c is None:
            c = counts[dept] = dict.fromkeys(_STATUS_VALUES, 0)
        c[status.value] += 1
        district[status.value] += 1
        if role is Role.LEAD:
            leads[dept] = leads.get(dept, 0) + 1
    found = (counts, leads, district)
    if isinstance(statuses, MappingProxyType):
        _COUNTS = (statuses, regular, found)
    return found


def department_progress(
    rt: Runtime, ranking: tuple | None = None, latest: dict | None = None
) -> list[dict]:
    """Every department with assignments, in ranking order, with its counts per status and
    its latest submission ({version, at} or None). `ranking`, `latest`: store.assignments.ranking_inputs()
    and store.submissions.latest() already read for this page."""
    statuses, overrides, reached, last = ranking or rt.store.assignments.ranking_inputs()
    latest = rt.store.submissions.latest() if latest is None else latest
    stars = starred_ids(rt.catalog, overrides)
    regular = rt.catalog.regular_ids  # bonus and deduction items never count
    rows = rank(compute_scores(statuses, stars, reached, regular))
    counts, leads, _ = _status_counts(statuses, regular)
    out = []
    for r in rows:
        s = r.score
        out.append(
            {
                "rank": r.rank,
                "last_rank": last.get(s.department),
                "department": s.department,
                "percent": s.percent,
                "done_weight": s.done_weight,
                "total_weight": s.total_weight,
                "done_count": s.done_count,
                "total_count": s.total_count,
                "lead_count": leads.get(s.department, 0),
                "by_status": dict(counts.get(s.department, {})),
                "reached_at": s.reached_at or None,
                "submission": _latest(latest.get(s.department)),
            }
        )
    return out


def _latest(entry: dict | None) -> dict | None:
    if not entry:
        return None
    return {"version": int(entry["version"]), "at": entry.get("at", "")}


def totals(rt: Runtime, statuses=None, stars: frozenset[int] | None = None) -> dict:
    """The district's counts per status and its 完成率, weighted as the ranking's; bonus and
    deduction items are apart (they never count). `statuses`, `stars`: already read."""
    regular = rt.catalog.regular_ids
    statuses = rt.store.assignments.statuses() if statuses is None else statuses
    by_status = dict(_status_counts(statuses, regular)[2])
    stars = starred(rt) if stars is None else stars
    whole = overall(compute_scores(statuses, stars, {}, regular))
    return {
        "assignments": whole.total_count,
        "complete": whole.done_count,
        "percent": whole.percent,
        "by_status": by_status,
    }


def bonus(rt: Runtime, statuses=None) -> list[dict]:
    """Departments that have offered evidence for a bonus item (加分项), apart from scores."""
    statuses = rt.store.assignments.statuses() if statuses is None else statuses
    found = bonus_contributors(statuses, rt.catalog.bonus_ids)
    return [{"department": d, "indicators": ids} for d, ids in sorted(found.items())]


def overview(rt: Runtime, ranking: tuple | None = None, latest: dict | None = None) -> dict:
    """The campaign at a glance; `ranking`, `latest`: see department_progress."""
    statuses, stars = None, None
    if ranking:
        statuses, stars = ranking[0], starred_ids(rt.catalog, ranking[1])
    c = rt.catalog.campaign
    tl = timeline(rt)
    now = rt.store.clock()
    return {
        "campaign": {
            "name": c.name,
            "document": c.document,
            "issued_by": c.issued_by,
            "issued_on": c.issued_on.isoformat(),
            "submit_to": c.submit_to,
        },
        "today": local_today(rt).isoformat(),
        "phase": tl.phase(local_today(rt)),
        "stage": texts.deadline_line(rt.calendar, tl, now),
        "deadlines": deadlines(rt),
        "events": events(rt, tl),
        "bonus": bonus(rt, statuses),
        "totals": totals(rt, statuses, stars),
        "indicators": len(rt.catalog.indicators),
        "departments": len(rt.assigned_departments()),
        "submitted_departments": len(
            set(rt.store.submissions.latest() if latest is None else latest)
            & set(rt.assigned_departments())
        ),
    }


def units(rt: Runtime, ind_id: int) -> tuple[list[str], list[str]]:
    """The lead and cooperating departments of an indicator, in org.yaml order."""
    roles = rt.services.units_of.get(ind_id, {})
    order = _org_order(rt)
    lead = sorted((d for d, r in roles.items() if r is Role.LEAD), key=order.__getitem__)
    coop = sorted((d for d, r in roles.items() if r is Role.COOPERATE), key=order.__getitem__)
    return lead, coop


def _org_order(rt: Runtime) -> dict[str, int]:
    """department -> its place in org.yaml, kept per runtime while the org is the same."""
    cached = rt.cache.get("org_order")
    if cached and cached[0] is rt.org and len(cached[1]) == len(rt.org.departments):
        return cached[1]
    order = {d: n for n, d in enumerate(rt.org.departments)}
    rt.cache["org_order"] = (rt.org, order)
    return order


def indicator_dict(rt: Runtime, ind: Indicator, stars: frozenset[int]) -> dict:
    lead, coop = units(rt, ind.id)
    return {
        "id": ind.id,
        "level1": ind.level1,
        "level2": ind.level2,
        "level3": ind.level3,
        "evidence": ind.evidence,
        "evidence_from": ind.evidence_from,
        "kind": ind.kind,
        "star": ind.id in stars,
        "lead_units": list(ind.lead),
        "cooperate_units": list(ind.cooperate),
        "lead": lead,
        "cooperate": coop,
    }


def material_dict(
    m: Material, links: dict[str, dict], secret: bool = False, redact: bool = False
) -> dict:
    """One material. `secret`: it is 涉密 (its own mark or its indicator's); with `redact` (the
    API, where data leaves the system) a 涉密 one shows SECRET_LABEL and its place only."""
    hidden = secret and redact
    state = links.get(m.url) if m.url and not hidden else None
    return {
        "title": SECRET_LABEL if hidden else m.title,
        "name": SECRET_LABEL if hidden else m.name,
        "url": "" if hidden else m.url,
        "kind": "paper" if hidden else ("link" if m.url else "file" if m.file else "paper"),
        "kind_label": "纸质" if hidden else m.kind_label,
        "file": None
        if hidden or m.file is None
        else {**m.file.to_dict(), "is_image": m.file.is_image},
        "clickable": False if hidden else is_web_url(m.url),
        "location": m.location,
        "secret": secret,
        "added_by": m.added_by,
        "added_at": m.added_at,
        "link": state,
    }


def assignment_dict(
    a: Assignment, links: dict[str, dict], ind: Indicator | None = None, redact: bool = False
) -> dict:
    """One assignment; `ind` tells which materials are 涉密, `redact` see material_dict."""
    secret_ind = bool(ind and ind.is_secret)
    explanation = a.explanation
    if redact and secret_ind and explanation:
        explanation = SECRET_TEXT
    return {
        "indicator": a.indicator_id,
        "department": a.department,
        "role": a.role.value,
        "role_label": a.role.label,
        "status": a.status.value,
        "status_label": a.status.label,
        "complete": a.is_complete,
        "materials": [material_dict(m, links, m.is_secret_in(ind), redact) for m in a.materials],
        "explanation": explanation,
        "reason": a.reason,
        "rectification": a.rectification,
        "rework": a.rework,
        "updated_by": a.updated_by,
        "updated_at": a.updated_at,
        "version": a.version,
    }


def indicator_detail(rt: Runtime, ind: Indicator, redact: bool = False) -> dict:
    """The indicator in full: every unit's assignment with materials and link states (for a
    bonus item also the departments that offered evidence unasked). `redact`: see
    material_dict."""
    stars = starred(rt)
    info = indicator_dict(rt, ind, stars)
    depts = info["lead"] + info["cooperate"]
    if ind.kind == "bonus":
        volunteers = {d for (i, d) in rt.store.assignments.statuses() if i == ind.id}
        depts += [d for d in rt.org.departments if d in volunteers and d not in depts]
    found = rt.store.assignments.at((ind.id, d) for d in depts)  # its own field of each unit
    assignments = [found[(ind.id, d)] for d in depts if (ind.id, d) in found]
    links = rt.store.links.states(m.url for a in assignments for m in a.materials if m.url)
    info["assignments"] = [assignment_dict(a, links, ind, redact) for a in assignments]
    return info


def assignments(
    rt: Runtime,
    department: str = "",
    indicator: int | None = None,
    status: str = "",
    redact: bool = False,
) -> list[dict]:
    depts = [department] if department else list(dict.fromkeys(d for _, d in rt.assignments))
    found = rt.store.assignments.of_departments(depts)
    chosen = [
        a
        for (ind, _), a in sorted(found.items())
        if (indicator is None or ind == indicator) and (not status or a.status.value == status)
    ]
    links = rt.store.links.states(m.url for a in chosen for m in a.materials if m.url)
    return [assignment_dict(a, links, rt.catalog.get(a.indicator_id), redact) for a in chosen]


def rectification(rt: Runtime) -> list[dict]:
    """The ★ items apart: per ★ indicator, each responsible unit's state and 整改说明."""
    stars = starred(rt)
    if not stars:
        return []
    found = rt.store.assignments.of_departments(rt.assigned_departments())
    out = []
    for ind_id in sorted(stars):
        ind = rt.catalog.indicators[ind_id]
        lead, coop = units(rt, ind_id)
        rows = []
        for d in lead + coop:
            a = found.get((ind_id, d))
            if a is None:
                continue
            rows.append(
                {
                    "department": d,
                    "role_label": a.role.label,
                    "status": a.status.value,
                    "status_label": a.status.label,
                    "rectification": a.rectification,
                }
            )
        written = sum(1 for r in rows if r["rectification"])
        out.append({"id": ind_id, "level3": ind.level3, "units": rows, "written": written})
    return out


def matrix(
    rt: Runtime, level1: str = "", lead: str = "", status: str = "", overdue: bool = False
) -> dict:
    """The department x indicator matrix after the filters.

    Indicators are kept by level-1 group and lead unit; departments are kept when at least one
    of their cells matches the status / overdue filter, and non-matching cells are dimmed.
    """
    statuses = rt.store.assignments.statuses()
    stars = starred(rt)
    late = is_overdue_now(rt)
    inds = [
        i
        for i in rt.catalog.ids
        if (not level1 or rt.catalog.indicators[i].level1 == level1)
        and (not lead or rt.assignments.get((i, lead)) is Role.LEAD)
    ]

    def matches(st: Status) -> bool:
        if status and st.value != status:
            return False
        return not overdue or (late and not st.is_complete)

    # (role, status) -> (role's value, status's value, matches?, still open?): a few pairs
    seen = {
        (r, s): (r.value, s.value, matches(s), s not in COMPLETE_STATUSES)
        for r in Role
        for s in Status
    }
    by_dept = _by_department(statuses)
    rows = []
    for dept in rt.org.departments:
        mine = by_dept.get(dept)
        if not mine:
            continue
        cells, shown, hit, still_open = [], [], False, 0
        for i in inds:
            cur = mine.get(i)
            if cur is None:
                cells.append(None)
                continue
            role, st, ok, is_open = seen[cur]
            c = {"indicator": i, "role": role, "status": st, "match": ok}
            cells.append(c)
            if ok:
                hit = True
                shown.append(c)  # the row as a list, on a phone
                if is_open:
                    still_open += 1
        if hit:
            rows.append({"department": dept, "cells": cells, "shown": shown, "open": still_open})
    return {
        "indicators": [{"id": i, "star": i in stars} for i in inds],
        "starred": stars,
        "rows": rows,
        "overdue_active": late,
    }


# The last status mapping grouped by department ({dept: {indicator: (role, status)}}): the
# mapping is the store's read-only one (bot.store._parse_statuses), the same object while the
# hash is unchanged, so an identical object means identical contents.
_BY_DEPT: tuple = (None, {})
COMPLETE_STATUSES = frozenset(s for s in Status if s.is_complete)


def _by_department(statuses) -> dict[str, dict[int, tuple[Role, Status]]]:
    global _BY_DEPT
    last, grouped = _BY_DEPT
    if last is statuses:
        return grouped
    grouped = {}
    for (ind, dept), v in statuses.items():
        grouped.setdefault(dept, {})[ind] = v
    if isinstance(statuses, MappingProxyType):  # a plain dict may change under the same id
        _BY_DEPT = (statuses, grouped)
    return grouped


def level1_groups(rt: Runtime) -> list[str]:
    return list(dict.fromkeys(ind.level1 for ind in rt.catalog.indicators.values()))


def lead_departments(rt: Runtime) -> list[str]:
    leads = {d for (_, d), r in rt.assignments.items() if r is Role.LEAD}
    return [d for d in rt.org.departments if d in leads]


@functools.lru_cache(maxsize=2048)
def _status_of(raw: str) -> str:
    """The status inside a stored assignment JSON (audit before/after), or "". Kept for the
    texts last asked: the history tables show the same entries on every look."""
    if not raw.startswith("{"):
        return ""
    try:
        value = json.loads(raw).get("status", "")
        return Status(value).label
    except (ValueError, AttributeError):
        return ""


def audit_dict(e: AuditEntry) -> dict:
    return {
        "id": e.id,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "action_label": ACTION_LABELS.get(e.action, e.action),
        "department": e.department,
        "indicator": e.indicator,
        "before_status": _status_of(e.before),
        "after_status": _status_of(e.after),
        "note": e.note,
        "before": e.before,
        "after": e.after,
    }


# --- submissions (报送) ----------------------------------------------------------------------


def submission_dict(rt: Runtime, department: str, s: dict) -> dict:
    """One version as the office sees it: when, who, its files and where its mail stands."""
    version = int(s["version"])
    defaults = {
        "xlsx": f"{department}_资料目录_第{version}版.xlsx",
        "docx": f"{department}_报送材料说明_第{version}版.docx",
    }
    files = [
        {
            "kind": kind,
            "name": s.get(f"{kind}_name") or defaults[kind],
            "token": s[kind],
            "url": download_url(rt.settings, s[kind]),
        }
        for kind in ("xlsx", "docx")
        if s.get(kind)
    ]
    mail = s.get("mail") or None
    total = s.get("total")
    return {
        "version": version,
        # how complete the frozen catalogue was ("" until its files are built)
        "completeness": f"已完成 {s.get('done', 0)}/{total} 项" if total is not None else "",
        "at": s.get("at", ""),
        "actor": s.get("actor", ""),
        "files": files,
        "mail": mail,
        "mail_label": MAIL_LABELS.get(mail, mail) if mail else MAIL_BUILDING,
        "mailed_at": s.get("mailed_at") or None,
        "mailed_to": s.get("mailed_to") or None,
        "mail_error": s.get("mail_error") or None,
    }


def submissions(rt: Runtime, department: str = "") -> dict:
    """Departments that have submitted (latest submission first, each version newest first),
    then the ones that have not. The counts are the district's, whatever the filter."""
    everyone = rt.assigned_departments()
    latest = rt.store.submissions.latest()
    chosen = [department] if department else everyone
    submitted = [
        {
            "department": d,
            "versions": [
                submission_dict(rt, d, s) for s in reversed(rt.store.submissions.of_department(d))
            ],
        }
        for d in chosen
        if d in latest
    ]
    submitted = [x for x in submitted if x["versions"]]
    submitted.sort(key=lambda x: x["versions"][0]["at"], reverse=True)  # stable: org order on ties
    done = {x["department"] for x in submitted}
    return {
        "submitted_count": sum(1 for d in everyone if d in latest),
        "department_count": len(everyone),
        "submitted": submitted,
        "not_submitted": [d for d in chosen if d not in done],
    }


# --- deliveries ----------------------------------------------------------------------------


def unreachable_departments(rt: Runtime) -> list[str]:
    """Departments with assignments none of whose chats in org.yaml can be pushed to: their
    reminders and notices are skipped (bot.delivery._fan_out). The sandbox does not count."""
    return [
        d
        for d in rt.assigned_departments()
        if not any(
            route_for(rt.settings, t) is not None
            for t in rt.org.chats_of(d)
            if t.platform != "sandbox"
        )
    ]


def bindings(rt: Runtime) -> dict:
    """Who is bound to which department, since when and by whom (the actor of the audit entry
    that wrote the binding as it is now), in the organisation's order; and the 绑定 requests
    waiting for the office (Settings.bind_approval)."""
    bound = rt.store.bindings.all()
    wanted = {b.to_json() for b in bound}
    by: dict[str, str] = {}
    for e in rt.store.audit.entries(count=100_000, action="bind"):
        if e.after in wanted and e.after not in by:
            by[e.after] = e.actor
            if len(by) == len(wanted):
                break
    order = {d: n for n, d in enumerate(rt.org.departments)}

    def row(b) -> dict:
        return {
            "person": f"{b.platform}:{b.user_id}",
            "platform": b.platform,
            "user_id": b.user_id,
            "name": b.name or b.user_id,
            "department": b.department,
            "liaison": b.role == "liaison",
            "since": b.bound_at,
            "by": by.get(b.to_json(), ""),
        }

    def key(b):
        return (order.get(b.department, len(order)), b.department, b.name, b.user_id)

    return {
        "bound": [row(b) for b in sorted(bound, key=key)],
        "requests": [
            row(b) for b, _ in sorted(rt.store.bindings.requests(), key=lambda r: r[0].bound_at)
        ],
        "approval": rt.settings.bind_approval,
    }
