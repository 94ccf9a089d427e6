"""The pushes of product.md §6: daily reminders, the escalation ladder and the ranking push.

Services: they read the store in a constant number of round trips, compose neutral Markdown
notices and queue them through the outbox once per slot (sent-markers); bot.delivery does the
sending. Each returns a `RunResult` saying what it queued, or why it queued nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from bot import texts
from bot.links import error_label
from bot.messages import Notice
from bot.progress import Assignment, RankRow, Role, Status, compute_scores, rank, starred_ids
from bot.render import link

MAX_ITEMS = 15  # open items listed in one reminder
MAX_NAMES = 10  # cooperating units named per indicator
ESCALATE_WITHIN = 3  # working days before a deadline when liaisons are @-mentioned


@dataclass(frozen=True)
class RunResult:
    queued: int = 0  # notices appended to the outbox by this run
    considered: int = 0  # departments looked at
    reason: str = ""  # why nothing was queued, if so

    def as_dict(self) -> dict:
        return asdict(self)


def _month_day(d) -> str:
    return f"{d.month}月{d.day}日"


# --- reminders ------------------------------------------------------------------------------


def compose_reminder(
    department: str,
    assignments: Iterable[Assignment],
    catalog,
    starred: frozenset[int],
    link_states: dict[str, dict],
    deadline_text: str,
    *,
    days_left: int | None = None,
    mentions: tuple[str, ...] = (),
) -> Notice | None:
    """The reminder for one department, or None when everything is complete.

    Open items lead and ★ first, the counts, working days left, returned items with their
    reasons and links that did not open. With `days_left` inside the escalation window the
    liaisons in `mentions` are @-mentioned.
    """
    items = list(assignments)
    open_items = sorted(
        (a for a in items if not a.is_complete),
        key=lambda a: (a.role is not Role.LEAD, a.indicator_id not in starred, a.indicator_id),
    )
    if not open_items:
        return None
    urgent = days_left is not None and 0 <= days_left <= ESCALATE_WITHIN
    if urgent:
        when = "今天截止" if days_left == 0 else f"距截止仅剩 {days_left} 个工作日"
        head = f"**⏰ 督办提醒 · {department}（{when}）**"
    else:
        head = f"**📋 督办提醒 · {department}**"
    done = len(items) - len(open_items)
    lines = [head]
    if deadline_text:
        lines.append(deadline_text)
    lines.append(f"共 {len(items)} 项，已完成 {done} 项，还有 {len(open_items)} 项未完成：")
    for a in open_items[:MAX_ITEMS]:
        ind = catalog.get(a.indicator_id)
        lines.append("- " + texts.indicator_line(ind, a, a.indicator_id in starred))
    if len(open_items) > MAX_ITEMS:
        lines.append(f"- ……另有 {len(open_items) - MAX_ITEMS} 项，发送「我的任务」查看全部")
    returned = [a for a in open_items if a.status is Status.RETURNED]
    if returned:
        lines.append(f"**已退回 {len(returned)} 项，请按原因修改后重新标记完成：**")
        lines += [
            f"- 第{a.indicator_id}项：{texts.quoted(a.reason) or '（未写原因）'}" for a in returned
        ]
    dead = [
        (a.indicator_id, m, link_states[m.url])
        for a in sorted(items, key=lambda a: a.indicator_id)
        for m in a.materials
        if m.url and m.url in link_states and not link_states[m.url].get("ok")
    ]
    if dead:
        lines.append(f"**{len(dead)} 个链接无法打开，请核对：**")
        for ind_id, m, state in dead:
            why = error_label(state.get("error", "")) or f"HTTP {state.get('status')}"
            title = texts.shorten(m.title or m.url, 40)
            lines.append(f"- 第{ind_id}项 {link(title, m.url)}：{why}")
    lines.append("提交材料：提交 编号 网址 名称；材料齐全后发送：完成 编号。")
    return Notice(
        "\n".join(lines),
        department,
        mentions if urgent else (),
        "escalation" if urgent and mentions else "reminder",
    )


def send_reminders(rt, now: datetime, slot: str, departments: Iterable[str] | None = None):
    """Queue today's reminder for every department with open items (or the given ones)."""
    store, cal, campaign = rt.store, rt.calendar, rt.catalog.campaign
    depts = list(departments) if departments else rt.assigned_departments()
    if not depts:
        return RunResult(reason="no departments")
    today = cal.local_today(now)
    by_dept: dict[str, list[Assignment]] = {d: [] for d in depts}
    for (_, d), a in store.assignments_of(depts).items():
        by_dept[d].append(a)
    open_depts = [d for d in depts if any(not a.is_complete for a in by_dept[d])]
    if not open_depts:
        return RunResult(considered=len(depts), reason="every department is complete")
    starred = starred_ids(rt.catalog, store.star_overrides())
    urls = [m.url for d in open_depts for a in by_dept[d] for m in a.materials if m.url]
    states = store.link_states(urls) if urls else {}
    deadline = campaign.next_deadline(today)
    days_left = cal.workdays_left(today, deadline.date) if deadline else None
    liaisons: dict[str, tuple[str, ...]] = {}
    if days_left is not None and days_left <= ESCALATE_WITHIN:
        liaisons = rt.org.liaisons(store.bindings())
    line = texts.deadline_line(cal, campaign, now)
    items = []
    for d in open_depts:
        notice = compose_reminder(
            d,
            by_dept[d],
            rt.catalog,
            starred,
            states,
            line,
            days_left=days_left,
            mentions=liaisons.get(d, ()),
        )
        if notice is not None:
            items.append((f"remind:{slot}:{d}", notice))
    queued = store.add_notices_once(items)
    reason = "" if queued else "already sent for this slot"
    return RunResult(queued=queued, considered=len(depts), reason=reason)


# --- escalation after a deadline -----------------------------------------------------------


def _open_counts(statuses) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = {}
    for (_, d), (_, s) in statuses.items():
        c = out.setdefault(d, [0, 0])
        c[1] += 1
        if not s.is_complete:
            c[0] += 1
    return {d: (c[0], c[1]) for d, c in out.items()}


def compose_office_digest(
    today, deadline, workdays_over: int, counts, submitted: dict[str, dict], order: list[str]
) -> Notice | None:
    """The office's daily digest of departments with open items after `deadline`."""
    pos = {d: i for i, d in enumerate(order)}
    overdue = sorted(
        (d for d, (open_n, _) in counts.items() if open_n),
        key=lambda d: (-counts[d][0], pos.get(d, len(pos)), d),
    )
    if not overdue:
        return None
    over = f"已过 {workdays_over} 个工作日" if workdays_over > 0 else "已截止"
    lines = [
        f"**⚠️ 逾期督办日报（{_month_day(today)}）**",
        f"「{deadline.name}」已于 {_month_day(deadline.date)} 截止（{over}），"
        f"{len(overdue)} 个部门仍有未完成事项：",
    ]
    for d in overdue:
        open_n, total = counts[d]
        sub = submitted.get(d)
        state = f"已报送第{sub['version']}版" if sub else "未报送目录"
        lines.append(f"- {d}：未完成 {open_n}/{total} 项，{state}")
    lines.append("可发送「催办 部门」单独提醒，或在管理后台查看详情。")
    return Notice("\n".join(lines), "", (), "escalation")


def compose_lead_notice(lead: str, laggards: dict[int, list[str]]) -> Notice | None:
    """To a lead unit: per indicator it leads, the cooperating units with nothing submitted."""
    if not laggards:
        return None
    lines = [
        f"**📌 配合单位督办 · {lead}牵头的指标**",
        "以下配合单位尚未提交任何材料，请牵头督促：",
    ]
    for ind_id in sorted(laggards):
        names = laggards[ind_id]
        shown = "、".join(names[:MAX_NAMES])
        more = f"等 {len(names)} 个单位" if len(names) > MAX_NAMES else ""
        lines.append(f"- 第{ind_id}项：{shown}{more}")
    lines.append("发送「查看 编号」可查看各单位进度。")
    return Notice("\n".join(lines), lead, (), "escalation")


def send_escalations(rt, now: datetime, slot: str) -> RunResult:
    """After a deadline: the office's digest of overdue departments, and to every lead unit
    the cooperating units that have not contributed to its indicators."""
    store, cal, campaign = rt.store, rt.calendar, rt.catalog.campaign
    today = cal.local_today(now)
    passed = [d for d in campaign.deadlines if d.date < today]
    if not passed:
        return RunResult(reason="no deadline has passed")
    deadline = passed[-1]
    statuses = store.statuses()
    counts = _open_counts(statuses)
    order = rt.assigned_departments()
    items = []
    digest = compose_office_digest(
        today,
        deadline,
        cal.workdays_between(deadline.date, today),
        counts,
        store.latest_submissions(),
        order,
    )
    if digest is not None:
        items.append((f"digest:{slot}:office", digest))
    units = rt.services.get("units_of", {})
    laggards: dict[str, dict[int, list[str]]] = {}
    for ind_id in sorted(units):
        roles = units[ind_id]
        slow = [
            d
            for d, r in roles.items()
            if r is Role.COOPERATE and statuses.get((ind_id, d), (r, Status.TODO))[1] is Status.TODO
        ]
        if not slow:
            continue
        for lead, r in roles.items():
            if r is Role.LEAD:
                laggards.setdefault(lead, {})[ind_id] = slow
    for lead in order:
        notice = compose_lead_notice(lead, laggards.get(lead, {}))
        if notice is not None:
            items.append((f"digest:{slot}:lead:{lead}", notice))
    if not items:
        return RunResult(considered=len(order), reason="nobody is overdue")
    queued = store.add_notices_once(items)
    return RunResult(queued, len(order), "" if queued else "already sent for this slot")


# --- ranking ---------------------------------------------------------------------------------


def rank_change(last: dict[str, int], row: RankRow) -> str:
    before = last.get(row.score.department)
    if before is None:
        return "首次排名"
    if before == row.rank:
        return "与上次持平"
    if before > row.rank:
        return f"较上次上升 {before - row.rank} 名"
    return f"较上次下降 {row.rank - before} 名"


def _arrow(last: dict[str, int], row: RankRow) -> str:
    before = last.get(row.score.department)
    if before is None or before == row.rank:
        return ""
    return f" ↑{before - row.rank}" if before > row.rank else f" ↓{row.rank - before}"


def compose_ranking(rows: list[RankRow], last: dict[str, int], when: str) -> list[Notice]:
    """One notice per department (its rank, score and change) and the office's table."""
    n = len(rows)
    out = []
    for r in rows:
        s = r.score
        out.append(
            Notice(
                f"**📊 进度排名 · {s.department}（{when}）**\n"
                f"全区第 {r.rank} / {n} 名，完成 {s.percent}%"
                f"（加权 {s.done_weight}/{s.total_weight}，已完成 {s.done_count}/{s.total_count} 项）\n"
                f"{rank_change(last, r)}。发送「排行」查看全区排名。",
                s.department,
                (),
                "ranking",
            )
        )
    table = [f"**📊 各部门进度排名（{when}，共 {n} 个部门）**"]
    table += [
        f"{r.rank}. {r.score.department} {r.score.percent}%"
        f"（{r.score.done_count}/{r.score.total_count}）{_arrow(last, r)}"
        for r in rows
    ]
    table.append("排名按加权完成率（牵头项权重2、配合项1，★项加倍），同分时先达到者在前。")
    out.append(Notice("\n".join(table), "", (), "ranking"))
    return out


def send_ranking(rt, now: datetime, slot: str) -> RunResult:
    """Rank every department, queue the notices and remember the ranks, once per slot."""
    statuses, overrides, reached, last = rt.store.ranking_inputs()
    rows = rank(compute_scores(statuses, starred_ids(rt.catalog, overrides), reached))
    if not rows:
        return RunResult(reason="no departments")
    local = rt.calendar.local_now(now)
    notices = compose_ranking(rows, last, f"{_month_day(local)} {local:%H:%M}")
    ranks = {r.score.department: r.rank for r in rows}
    if not rt.store.publish_ranking(f"rank:{slot}", ranks, notices):
        return RunResult(considered=len(rows), reason="already sent for this slot")
    return RunResult(queued=len(notices), considered=len(rows))
