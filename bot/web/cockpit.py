"""Read models of the cockpit: who is behind (bot.lag), burn-up charts (bot.burnup) and the
department page. One scan of the audit log serves the burn-up and the last-activity dates."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from types import MappingProxyType

from bot import burnup
from bot.delivery import route_for
from bot.lag import LAG_RULE, Lag, rank_behind
from bot.progress import Status, assignment_weight
from bot.runtime import Runtime
from bot.web import views
from bot.web.history import recent as recent_history

PLATFORM_LABELS = {"dingtalk": "钉钉", "wecom": "企业微信", "feishu": "飞书", "sandbox": "沙盒"}
ROLE_LABELS = {"liaison": "联络员", "member": "成员"}
# What a department does itself: the office's reviews, stars and pushes are not its activity.
OWN_ACTIONS = frozenset(
    {
        "bind",
        "submit",
        "paper",
        "explain",
        "done",
        "not_applicable",
        "delete",
        "place",
        "declare",
        "rectify",
        "undo",
        "submit_catalog",
    }
)
COMPLETE = frozenset(s.value for s in Status if s.is_complete)
RECENT = 20  # activity entries on a department page


@dataclass
class Scan:
    """The log as the cockpit needs it, kept per process and extended with what is new (the log
    is append-only), so a page view reads only the entries since the last one."""

    changes: list[tuple[dt.date, int, str, bool]] = field(default_factory=list)
    last_active: dict[str, dt.date] = field(default_factory=dict)
    last_id: str = ""
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def scan(rt: Runtime) -> Scan:
    s = rt.services.setdefault("cockpit_scan", Scan())
    with s.lock:
        # the store was emptied: start over. Not "the log is shorter than what was read": once
        # the log reaches its cap, every new entry trims an old one
        if s.last_id and not rt.store.audit.has(s.last_id):
            s.changes, s.last_active, s.last_id, s.count = [], {}, "", 0
        entries, s.last_id = rt.store.audit.activity(s.last_id)
        s.count += len(entries)
        _read(rt, s, entries)
        return Scan(list(s.changes), dict(s.last_active), s.last_id, s.count)


def _read(rt: Runtime, s: Scan, entries) -> None:
    cal = rt.calendar
    days: dict[str, dt.date] = {}  # per quarter hour of UTC: every zone's offset is a multiple
    for at, actor, action, ind, dept, status in entries:
        if not dept or not at:
            continue
        quarter = at[:14] + str(int(at[14:16] or 0) // 15)
        day = days.get(quarter)
        if day is None:
            day = days[quarter] = cal.local_today(
                dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
            )
        if status and ind is not None:
            s.changes.append((day, ind, dept, status in COMPLETE))
        if action in OWN_ACTIONS and not actor.startswith(("system:", "web:")):
            s.last_active[dept] = day


def weights(rt: Runtime, stars: frozenset[int] | None = None) -> dict[tuple[int, str], int]:
    """Every regular assignment's ranking weight (bonus and deduction items never count).
    Kept per process while the assignments and the stars stay the same (read-only)."""
    stars = views.starred(rt) if stars is None else stars
    key = (stars, len(rt.assignments))
    cached = rt.services.get("cockpit_weights")
    if cached and cached[0] == key and cached[2] is rt.assignments:
        return cached[1]
    regular = rt.catalog.regular_ids
    found = {
        (i, d): assignment_weight(role, i in stars)
        for (i, d), role in rt.assignments.items()
        if i in regular
    }
    rt.services["cockpit_weights"] = (key, found, rt.assignments)
    return found


def next_deadline(rt: Runtime) -> dict | None:
    return next((d for d in views.deadlines(rt) if not d["passed"]), None)


def _deadline_marks(rt: Runtime) -> list[tuple[dt.date, str]]:
    return [(d.date, d.name) for d in rt.catalog.campaign.deadlines]


def _dead_links(rt: Runtime, open_ids: dict[str, list[int]]) -> dict[str, int]:
    """Dead links among the materials of each department's open items."""
    urls = rt.store.assignments.material_urls(open_ids)
    dead = rt.store.links.dead(u for us in urls.values() for u in us)
    return {d: n for d, us in urls.items() if (n := len(dead.intersection(us)))}


@dataclass
class Inputs:
    """What every cockpit view reads, once per request."""

    scan: Scan
    statuses: dict
    weights: dict[tuple[int, str], int]
    latest: dict | None = None  # store.submissions.latest(), when the page has read it


def inputs(
    rt: Runtime,
    statuses=None,
    stars: frozenset[int] | None = None,
    latest: dict | None = None,
) -> Inputs:
    """`statuses`, `stars`, `latest`: the status map, the ★ items and the latest submissions
    already read for this page."""
    if statuses is None:
        statuses = rt.store.assignments.statuses()
    return Inputs(scan(rt), statuses, weights(rt, stars), latest)


def _open_items(rt: Runtime, i: Inputs) -> tuple[dict, dict, dict, dict, dict]:
    """Per department: open weight, open count, the open items that hold material (started),
    the count of its regular items, and of its returned ones. Kept per process for the store's
    read-only status map and the same weights (see views._by_department)."""
    cached = rt.services.get("cockpit_open")
    if cached and cached[0] is i.statuses and cached[1] is i.weights:
        return cached[2]
    statuses = i.statuses
    open_w: dict[str, int] = {}
    open_n: dict[str, int] = {}
    open_ids: dict[str, list[int]] = {}
    total_n: dict[str, int] = {}
    returned: dict[str, int] = {}
    complete = views.COMPLETE_STATUSES
    for key, weight in i.weights.items():
        ind, d = key
        total_n[d] = total_n.get(d, 0) + 1
        st = statuses.get(key, (None, Status.TODO))[1]
        if st not in complete:
            open_w[d] = open_w.get(d, 0) + weight
            open_n[d] = open_n.get(d, 0) + 1
            if st is not Status.TODO:  # an item not started holds no material
                open_ids.setdefault(d, []).append(ind)
        if st is Status.RETURNED:
            returned[d] = returned.get(d, 0) + 1
    found = (open_w, open_n, open_ids, total_n, returned)
    if isinstance(statuses, MappingProxyType):
        rt.services["cockpit_open"] = (statuses, i.weights, found)
    return found


def behind(rt: Runtime, i: Inputs | None = None) -> dict:
    """Every department with assignments, most behind first (bot.lag), with the next deadline."""
    i = i or inputs(rt)
    s = i.scan
    today = views.local_today(rt)
    depts = rt.assigned_departments()
    order = {d: n for n, d in enumerate(depts)}
    open_w, open_n, open_ids, total_n, returned = _open_items(rt, i)
    bound: dict[str, int] = {}
    liaisons: dict[str, int] = {}
    for b in rt.store.bindings.all():
        bound[b.department] = bound.get(b.department, 0) + 1
        if b.role == "liaison":
            liaisons[b.department] = liaisons.get(b.department, 0) + 1
    # In demo mode every push lands in the sandbox's outbox: no department is out of reach.
    unreachable = set() if rt.settings.demo else set(views.unreachable_departments(rt))
    submitted = set(rt.store.submissions.latest() if i.latest is None else i.latest)
    nxt = next_deadline(rt)
    # the pace to keep is counted to the last deadline: everything is due complete by then
    final = next((d for d in reversed(views.deadlines(rt)) if not d["passed"]), None)
    dead = _dead_links(rt, open_ids)
    start = rt.catalog.campaign.issued_on
    lags = [
        Lag(
            department=d,
            open_weight=open_w.get(d, 0),
            open_count=open_n.get(d, 0),
            total_count=total_n.get(d, 0),
            returned=returned.get(d, 0),
            dead_links=dead.get(d, 0),
            idle_days=max(0, (today - s.last_active.get(d, start)).days),
            bound=bound.get(d, 0),
            liaisons=liaisons.get(d, 0),
            reachable=d not in unreachable,
            submitted=d in submitted,
            submit_next=bool(nxt and nxt["key"] == "submit"),
            order=order[d],
        )
        for d in depts
    ]
    rows = [
        {
            "rank": r.rank,
            "department": r.lag.department,
            "points": r.lag.points,
            "reasons": r.lag.reasons,
            "open_count": r.lag.open_count,
            "total_count": r.lag.total_count,
            "returned": r.lag.returned,
            "dead_links": r.lag.dead_links,
            "idle_days": r.lag.idle_days,
            "liaisons": r.lag.liaisons,
            "bound": r.lag.bound,
            "per_workday": _per_workday(r.lag.open_count, final),
        }
        for r in rank_behind(lags)
    ]
    return {"rows": rows, "next": nxt, "final": final, "rule": LAG_RULE}


def _per_workday(open_count: int, nxt: dict | None) -> str:
    """How many items a day it takes to finish by the next deadline, in words."""
    if not open_count or not nxt:
        return ""
    days = nxt["workdays_left"]
    if days <= 0:
        return "今天截止"
    per = open_count / days
    return f"每个工作日需完成 {per:.1f} 项" if per < 10 else f"每个工作日需完成 {round(per)} 项"


def burnups(
    rt: Runtime, i: Inputs | None = None, departments: list[str] | None = None
) -> tuple[burnup.Series, dict[str, burnup.Series]]:
    """The district's burn-up and each department's (with `departments`, only theirs). The
    replay is kept per process for the same log, statuses, weights and day (read-only)."""
    i = i or inputs(rt)
    start = rt.catalog.campaign.issued_on
    today = max(views.local_today(rt), start)
    key = (
        i.scan.count,
        i.scan.last_id,
        start,
        today,
        tuple(departments or ()),
        departments is None,
    )
    cached = rt.services.get("cockpit_burnups")
    if cached and cached[0] == key and cached[1] is i.statuses and cached[2] is i.weights:
        return cached[3]
    complete = views.COMPLETE_STATUSES
    current = {k: st in complete for k, (_, st) in i.statuses.items()}
    found = burnup.replay(i.scan.changes, i.weights, start, today, current, departments)
    if isinstance(i.statuses, MappingProxyType):  # the store's: same object, same contents
        rt.services["cockpit_burnups"] = (key, i.statuses, i.weights, found)
    return found


def chart(rt: Runtime, series: burnup.Series) -> dict:
    return burnup.chart(series, _deadline_marks(rt), views.local_today(rt))


def cockpit(
    rt: Runtime,
    statuses=None,
    stars: frozenset[int] | None = None,
    latest: dict | None = None,
) -> dict:
    """The overview's first screen: who is behind, and the district's burn-up (see inputs)."""
    i = inputs(rt, statuses, stars, latest)
    whole, _ = burnups(rt, i, departments=[])
    return {"behind": behind(rt, i), "burnup": chart(rt, whole)}


# --- a department's page ------------------------------------------------------------------


def chats(rt: Runtime, department: str) -> list[dict]:
    out = []
    for t in rt.org.chats_of(department):
        route = route_for(rt.settings, t)
        out.append(
            {
                "platform": PLATFORM_LABELS.get(t.platform, t.platform),
                "label": route.label if route else "仅接收消息，无法推送",
                "reachable": route is not None,
            }
        )
    return out


def people(rt: Runtime, department: str) -> list[dict]:
    """Who is bound to it, liaisons first, then by when they bound."""
    found = [b for b in rt.store.bindings.all() if b.department == department]
    found.sort(key=lambda b: (b.role != "liaison", b.bound_at, b.name))
    return [
        {
            "name": b.name or b.user_id,
            "role": b.role,
            "role_label": ROLE_LABELS.get(b.role, b.role),
            "platform": PLATFORM_LABELS.get(b.platform, b.platform),
            "since": b.bound_at,
        }
        for b in found
    ]


def items_by_status(rt: Runtime, department: str) -> list[dict]:
    """Its assignments grouped by status, open ones first (returned, todo, in progress)."""
    order = [
        Status.RETURNED,
        Status.TODO,
        Status.IN_PROGRESS,
        Status.DONE,
        Status.NOT_APPLICABLE,
        Status.APPROVED,
    ]
    stars = views.starred(rt)
    found = rt.store.assignments.of_department(department)
    groups = []
    for st in order:
        items = [
            {
                "id": i,
                "level3": rt.catalog.indicators[i].level3 if i in rt.catalog.indicators else "",
                "role_label": a.role.label,
                "lead": a.role.value == "lead",
                "star": i in stars,
                "reason": a.reason,
                "materials": len(a.materials),
                "updated_at": a.updated_at,
            }
            for i, a in sorted(found.items())
            if a.status is st
        ]
        if items:
            groups.append({"status": st.value, "label": st.label, "entries": items})
    return groups


def department(rt: Runtime, name: str, cooldown_s: int) -> dict:
    i = inputs(rt)
    _, per = burnups(rt, i, departments=[name])
    b = behind(rt, i)
    row = next((r for r in b["rows"] if r["department"] == name), None)
    series = per.get(name)
    history = recent_history(rt, RECENT, department=name)
    cooling = rt.store.reminders.cooldowns([name]).get(name)
    return {
        "name": name,
        "row": row,
        "of": len(b["rows"]),
        "next": b["next"],
        "final": b["final"],
        "rule": b["rule"],
        "people": people(rt, name),
        "chats": chats(rt, name),
        "groups": items_by_status(rt, name),
        "activity": [views.audit_dict(e) for e in history],
        "versions": [
            views.submission_dict(rt, name, v)
            for v in reversed(rt.store.submissions.of_department(name))
        ],
        "burnup": chart(rt, series) if series else None,
        "cooldown": {"at": cooling[0], "minutes_left": -(-cooling[1] // 60)} if cooling else None,
        "cooldown_minutes": cooldown_s // 60,
    }
