"""The scheduled pushes: daily reminders, the escalation ladder and the ranking push.

They follow the campaign's phase (bot/timeline.py): countdowns and escalation run to the
deadlines only; after the last deadline the pushes turn to inspection readiness, weekly; after
the campaign's end they stop.

Services: they read the store in a constant number of round trips, compose neutral Markdown
notices and queue them through the outbox once per slot (sent-markers); bot.delivery does the
sending. Each returns a `RunResult` saying what it queued, or why it queued nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from bot import filllinks, texts
from bot.commands import Services
from bot.errors import UserError
from bot.messages import Notice
from bot.progress import (
    Assignment,
    Material,
    RankRow,
    Role,
    Status,
    bonus_contributors,
    compute_scores,
    rank,
    sharing,
    starred_ids,
)
from bot.render import Button, link, with_actions
from bot.schedule import job_id
from bot.timeline import ENDED, READINESS, Timeline

MAX_ITEMS = 15  # paper items listed in one readiness push
MAX_LISTED = 3  # returned items, and dead links, listed in one reminder (the rest counted)
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


# --- when to push ----------------------------------------------------------------------------


def timeline_of(rt) -> Timeline:
    """The campaign's deadlines and events with the days the office has set (one read)."""
    return Timeline(rt.catalog.campaign, rt.store.assignments.event_dates())


def is_readiness_day(cal, timeline: Timeline, today: date) -> bool:
    """After the last deadline the pushes are weekly, not daily: on the first working day of
    each week, and on each of the last working days before an inspection day that is set."""
    if not cal.is_workday(today):
        return False
    event = timeline.next_event(today)
    day = timeline.event_date(event) if event else None
    if day is not None and 0 <= cal.workdays_left(today, day) <= ESCALATE_WITHIN:
        return True
    monday = today - timedelta(days=today.weekday())
    return not any(cal.is_workday(monday + timedelta(days=n)) for n in range(today.weekday()))


def _today(rt, now: datetime, on_demand: bool = False) -> tuple[Timeline, date, str, str]:
    """The timeline, today, its phase, and why nothing is pushed today ("" = push): never
    before the notice's issue date nor after the campaign's end, and after the last deadline
    only on readiness days (any day when the office asks, `on_demand`)."""
    timeline = timeline_of(rt)
    today = rt.calendar.local_today(now)
    phase = timeline.phase(today)
    reason = ""
    if phase == ENDED:
        reason = "the campaign has ended"
    elif on_demand:
        pass
    elif not timeline.has_started(today):
        reason = "the notice has not been issued yet"
    elif phase == READINESS and not is_readiness_day(rt.calendar, timeline, today):
        reason = "pushes are weekly after the last deadline"
    return timeline, today, phase, reason


def _regular(rt, assignments: Iterable[Assignment]) -> list[Assignment]:
    """The assignments that are chores: bonus and deduction items never appear in reminders."""
    regular = rt.catalog.regular_ids
    return [a for a in assignments if a.indicator_id in regular]


def _shown_links(catalog, a: Assignment):
    """The links of an assignment that may be named in a push: never a 涉密 one."""
    ind = catalog.get(a.indicator_id)
    if ind is not None and ind.is_secret:
        return []
    return [m for m in a.materials if m.url and not m.secret]


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
    submit_line: str = "",
    calendar=None,
    today: date | None = None,
    door: Callable[[Iterable[int]], list[Button]] | None = None,
) -> Notice | None:
    """The reminder for one department, or None when it has nothing left to do; short enough
    for one phone screen. `door` gives the buttons of the department's page (打开填报页, 查看第N
    项 for the items named first: the returned ones, then those with dead links).

    Working days left, the 报送 prompt while the catalogue is still due and not sent
    (`submit_line`), then the returned items with their reasons and the links that did not open
    (the first few of each), then the open items as counts with what to type. With `days_left` inside the escalation window the liaisons in
    `mentions` are @-mentioned.
    """
    items = list(assignments)
    open_items = sorted(
        (a for a in items if not a.is_complete),
        key=lambda a: (a.role is not Role.LEAD, a.indicator_id not in starred, a.indicator_id),
    )
    if not open_items and not submit_line:
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
    if submit_line:
        lines.append(submit_line)
    # What needs the department's hand first: the returns and the links that do not open.
    # those with the nearest 返工期限 first
    returned = sorted(
        (a for a in open_items if a.status is Status.RETURNED),
        key=lambda a: (not a.rework, a.rework),
    )
    if returned:
        lines.append(f"**已退回 {len(returned)} 项，请按原因修改后重新标记完成：**")
        # A 返工期限 set with the 退回 is counted down here (`calendar`, `today`).
        lines += [
            f"- 第{a.indicator_id}项：{texts.quoted(a.reason, 30) or '（未写原因）'}"
            + (f"（{texts.rework_note(calendar, today, a.rework)}）" if a.rework else "")
            for a in returned[:MAX_LISTED]
        ]
        if len(returned) > MAX_LISTED:
            lines.append(f"- ……另有 {len(returned) - MAX_LISTED} 项已退回，发送「我的任务」查看")
    dead = [
        (a.indicator_id, m, link_states[m.url])
        for a in sorted(items, key=lambda a: a.indicator_id)
        for m in _shown_links(catalog, a)
        if m.url in link_states and not link_states[m.url].get("ok")
    ]
    if dead:
        lines.append(f"**{len(dead)} 个链接无法打开，请核对：**")
        for ind_id, m, state in dead[:MAX_LISTED]:
            why = texts.link_problem(state)
            title = texts.shorten(m.name, 20)
            lines.append(f"- 第{ind_id}项 {link(title, m.url)}：{why}")
        if len(dead) > MAX_LISTED:
            rest = dead[MAX_LISTED:]
            ids = "、".join(str(i) for i in dict.fromkeys(i for i, _, _ in rest))
            lines.append(
                f"- ……另有 {len(rest)} 个链接无法打开（第{texts.shorten(ids, 30)}项），"
                "发送「查看 编号」核对"
            )
    # The rest as counts, with what to type.
    if open_items:
        lead = sum(1 for a in open_items if a.role is Role.LEAD)
        star = sum(1 for a in open_items if a.indicator_id in starred)
        of = f"牵头 {lead} 项" + (f"，★ {star} 项" if star else "")
        lines.append(
            f"共 {len(items)} 项，已完成 {done} 项，还有 {len(open_items)} 项未完成（{of}）："
            "发送「我的任务」逐项查看，材料齐全后发送「完成 编号」。"
        )
    else:
        lines.append(f"共 {len(items)} 项，已全部完成。")
    if any(a.indicator_id in starred and not a.rectification for a in open_items):
        lines.append(texts.RECTIFY_HINT)
    first = [a.indicator_id for a in returned] + [i for i, _, _ in dead]
    return Notice(
        with_actions("\n".join(lines), door(first) if door else []),
        department,
        mentions if urgent else (),
        "escalation" if urgent and mentions else "reminder",
    )


def paper_materials(assignments: Iterable[Assignment]) -> list[tuple[int, int, Material]]:
    """(indicator, material number, material) of every paper item, in indicator order."""
    return [
        (a.indicator_id, n, m)
        for a in sorted(assignments, key=lambda a: a.indicator_id)
        for n, m in enumerate(a.materials, start=1)
        if m.is_paper
    ]


def compose_readiness(
    department: str,
    assignments: Iterable[Assignment],
    catalog,
    event_text: str,
    submitted: bool,
    door: Callable[[Iterable[int]], list[Button]] | None = None,
) -> Notice | None:
    """After the last deadline: the department's readiness for the inspection (its paper
    materials and where they are kept), or None when it has nothing left to do. No dates are
    called missed: the inspection is not a deadline."""
    items = list(assignments)
    paper = paper_materials(items)
    unplaced = [(i, n, m) for i, n, m in paper if not m.location]
    open_n = sum(1 for a in items if not a.is_complete)
    if not unplaced and not open_n and submitted:
        return None
    lines = [f"**🗂 实地查验准备 · {department}**", event_text]
    if paper:
        places = list(dict.fromkeys(texts.quoted(m.location) for _, _, m in paper if m.location))
        where = f"，存放于：{'、'.join(places[:MAX_NAMES])}" if places else ""
        lines.append(f"本部门已登记纸质材料 {len(paper)} 件{where}。")
    else:
        lines.append("本部门尚未登记纸质材料：发送「纸质 编号 名称 存放：位置」登记。")
    if unplaced:
        lines.append(f"**{len(unplaced)} 件纸质材料尚未写明存放位置：**")
        for ind_id, n, m in unplaced[:MAX_ITEMS]:
            lines.append(f"- 第{ind_id}项第{n}份「{texts.quoted(m.title, 30)}」")
        if len(unplaced) > MAX_ITEMS:
            lines.append(f"- ……另有 {len(unplaced) - MAX_ITEMS} 件")
        lines.append("补写位置：存放 编号 序号 位置，例如：存放 12 1 档案室3号柜")
    if open_n:
        lines.append(f"还有 {open_n} 项未完成，发送「我的任务」查看。")
    if not submitted:
        lines.append(texts.SUBMIT_PROMPT_LATE)
    buttons = door(i for i, _, _ in unplaced) if door else []
    return Notice(with_actions("\n".join(lines), buttons), department, (), "reminder")


def send_reminders(
    rt, now: datetime, slot: str, departments: Iterable[str] | None = None, on_demand=False
):
    """Queue today's reminder for every department with something to do (or the given ones).

    Before the last deadline: daily, with the countdown and the 报送 prompt. After it: the
    inspection readiness, weekly (any day when the office asks, `on_demand`). After the
    campaign's end: nothing.
    """
    store, cal = rt.store, rt.calendar
    timeline, today, phase, quiet = _today(rt, now, on_demand)
    if quiet:
        return RunResult(reason=quiet)
    depts = list(departments) if departments else rt.assigned_departments()
    if not depts:
        return RunResult(reason="no departments")
    by_dept: dict[str, list[Assignment]] = {d: [] for d in depts}
    for (_, d), a in store.assignments.of_departments(depts).items():
        by_dept[d].append(a)
    by_dept = {d: _regular(rt, items) for d, items in by_dept.items()}
    submitted = store.submissions.latest()
    line = texts.deadline_line(cal, timeline, now)
    items: list[tuple[str, Notice]] = []
    if phase == READINESS:
        for d in depts:
            notice = compose_readiness(
                d, by_dept[d], rt.catalog, line, d in submitted, door=_door(rt, d)
            )
            if notice is not None:
                items.append((f"remind:{slot}:{d}", notice))
        return _queued(store, items, len(depts), "every department is ready")
    submit_due = timeline.submit_deadline if timeline.is_submit_open(today) else None
    prompt = texts.submit_prompt(submit_due.date) if submit_due else ""
    todo = [
        d
        for d in depts
        if any(not a.is_complete for a in by_dept[d]) or (prompt and d not in submitted)
    ]
    if not todo:
        return RunResult(considered=len(depts), reason="every department is complete")
    starred = starred_ids(rt.catalog, store.assignments.star_overrides())
    urls = [m.url for d in todo for a in by_dept[d] for m in _shown_links(rt.catalog, a)]
    states = store.links.states(urls) if urls else {}
    deadline = timeline.next_deadline(today)
    days_left = cal.workdays_left(today, deadline.date) if deadline else None
    liaisons: dict[str, tuple[str, ...]] = {}
    if days_left is not None and days_left <= ESCALATE_WITHIN:
        liaisons = rt.org.liaisons(store.bindings.all())
    for d in todo:
        notice = compose_reminder(
            d,
            by_dept[d],
            rt.catalog,
            starred,
            states,
            line,
            days_left=days_left,
            mentions=liaisons.get(d, ()),
            submit_line=prompt if d not in submitted else "",
            calendar=cal,
            today=today,
            door=_door(rt, d),
        )
        if notice is not None:
            items.append((f"remind:{slot}:{d}", notice))
    return _queued(store, items, len(depts), "every department is complete")


def _door(rt, department: str) -> Callable[[Iterable[int]], list[Button]]:
    """The buttons of a push to `department`'s group: its door, never a person's link
    (bot/filllinks.py)."""
    services = getattr(rt, "services", None) or Services()
    return lambda items: filllinks.door_for(services, department, tuple(items))


def _queued(store, items: list[tuple[str, Notice]], considered: int, idle: str) -> RunResult:
    if not items:
        return RunResult(considered=considered, reason=idle)
    queued = store.outbox.add_once(items)
    return RunResult(queued, considered, "" if queued else "already sent for this slot")


# --- escalation --------------------------------------------------------------------------------


def _open_counts(statuses, regular: frozenset[int]) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = {}
    for (ind, d), (_, s) in statuses.items():
        if ind not in regular:
            continue
        c = out.setdefault(d, [0, 0])
        c[1] += 1
        if not s.is_complete:
            c[0] += 1
    return {d: (c[0], c[1]) for d, c in out.items()}


def compose_office_digest(
    today, deadline, workdays_over: int, counts, submitted: dict[str, dict], order: list[str],
    *, submit_passed: bool = False,
) -> Notice | None:  # fmt: skip
    """The office's daily digest after `deadline`: departments with open items, and (once the
    submit deadline has passed, `submit_passed`) those that have not sent their catalogue."""
    pos = {d: i for i, d in enumerate(order)}
    late = [
        d for d in counts if counts[d][0] or (submit_passed and d not in submitted and d in pos)
    ]
    overdue = sorted(late, key=lambda d: (-counts[d][0], pos.get(d, len(pos)), d))
    if not overdue:
        return None
    over = f"已过 {workdays_over} 个工作日" if workdays_over > 0 else "已截止"
    what = "仍有未完成事项或尚未报送" if submit_passed else "仍有未完成事项"
    lines = [
        f"**⚠️ 逾期督办日报（{_month_day(today)}）**",
        f"「{deadline.name}」已于 {_month_day(deadline.date)} 截止（{over}），"
        f"{len(overdue)} 个部门{what}：",
    ]
    for d in overdue:
        open_n, total = counts[d]
        sub = submitted.get(d)
        state = f"已报送第{sub['version']}版" if sub else "未报送目录"
        done = f"未完成 {open_n}/{total} 项" if open_n else "已全部完成"
        lines.append(f"- {d}：{done}，{state}")
    lines.append("可发送「催办 部门」单独提醒，或在管理后台查看详情。")
    return Notice("\n".join(lines), "", (), "escalation")


def compose_submit_digest(today, deadline, missing: list[str]) -> Notice | None:
    """From the working day before the submit deadline: who has not sent the catalogue yet."""
    if not missing:
        return None
    when = "今天截止" if deadline.date == today else f"{_month_day(deadline.date)}截止"
    shown = "、".join(missing[: MAX_NAMES * 3])
    more = f"等 {len(missing)} 个部门" if len(missing) > MAX_NAMES * 3 else ""
    lines = [
        f"**📮 报送督办（{_month_day(today)}）**",
        f"「{deadline.name}」{when}，{len(missing)} 个部门尚未报送资料目录：",
        f"{shown}{more}",
        "可发送「催办 部门」单独提醒，或在管理后台「报送」页查看。",
    ]
    return Notice("\n".join(lines), "", (), "escalation")


def compose_readiness_digest(
    today, event_text: str, order: list[str], counts, submitted, unplaced: dict[str, int]
) -> Notice:
    """The office's weekly view after the last deadline: who still has open items, paper
    without a place, or no catalogue sent. No "overdue": the inspection is not a deadline."""

    def names(depts: list[str]) -> str:
        shown = "、".join(depts[:MAX_NAMES])
        return shown + (f"等 {len(depts)} 个部门" if len(depts) > MAX_NAMES else "")

    lines = [f"**🗂 实地查验准备情况（{_month_day(today)}）**", event_text]
    open_depts = [d for d in order if counts.get(d, (0, 0))[0]]
    placeless = [d for d in order if unplaced.get(d)]
    unsent = [d for d in order if d not in submitted]
    if open_depts:
        lines.append(f"- 仍有未完成事项：{len(open_depts)} 个部门（{names(open_depts)}）")
    if placeless:
        lines.append(f"- 纸质材料未写存放位置：{len(placeless)} 个部门（{names(placeless)}）")
    if unsent:
        lines.append(f"- 尚未报送资料目录：{len(unsent)} 个部门（{names(unsent)}）")
    if not (open_depts or placeless or unsent):
        lines.append("各部门均已完成并报送，纸质材料均已写明存放位置。")
    return Notice("\n".join(lines), "", (), "notice")


def compose_lead_notice(
    lead: str,
    laggards: dict[int, list[str]],
    door: Callable[[Iterable[int]], list[Button]] | None = None,
) -> Notice | None:
    """To a lead unit: per indicator it leads, the cooperating units with nothing submitted;
    `door` gives the buttons of its page (the first indicators named)."""
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
    buttons = door(sorted(laggards)) if door else []
    return Notice(with_actions("\n".join(lines), buttons), lead, (), "escalation")


def send_escalations(rt, now: datetime, slot: str) -> RunResult:
    """The office's digests and the lead units' laggards.

    From the working day before the submit deadline, who has not sent the catalogue; after a
    deadline, the overdue departments, and to every lead unit the cooperating units that have
    not contributed to its indicators. After the last deadline, a weekly readiness digest
    instead; after the campaign's end, nothing.
    """
    store, cal = rt.store, rt.calendar
    timeline, today, phase, quiet = _today(rt, now)
    if quiet:
        return RunResult(reason=quiet)
    regular = rt.catalog.regular_ids
    order = rt.assigned_departments()
    submitted = store.submissions.latest()
    if phase == READINESS:
        statuses = store.assignments.statuses()
        found = store.assignments.of_departments(order)
        unplaced: dict[str, int] = {}
        for (ind, d), a in found.items():
            for m in a.materials:
                if ind in regular and m.is_paper and not m.location:
                    unplaced[d] = unplaced.get(d, 0) + 1
        digest = compose_readiness_digest(
            today,
            texts.deadline_line(cal, timeline, now),
            order,
            _open_counts(statuses, regular),
            submitted,
            unplaced,
        )
        return _queued(store, [(f"digest:{slot}:office", digest)], len(order), "")
    items: list[tuple[str, Notice]] = []
    sub = timeline.submit_deadline
    if sub and today <= sub.date and cal.workdays_left(today, sub.date) <= 1:
        missing = [d for d in order if d not in submitted]
        notice = compose_submit_digest(today, sub, missing)
        if notice is not None:
            items.append((f"digest:{slot}:submit", notice))
    passed = [d for d in timeline.campaign.deadlines if d.date < today]
    if passed:
        deadline = passed[-1]
        statuses = store.assignments.statuses()
        digest = compose_office_digest(
            today,
            deadline,
            cal.workdays_between(deadline.date, today),
            _open_counts(statuses, regular),
            submitted,
            order,
            submit_passed=bool(sub and sub.date < today),
        )
        if digest is not None:
            items.append((f"digest:{slot}:office", digest))
        items += _lead_notices(rt, statuses, regular, order, slot)
    if not items:
        reason = "nobody is overdue" if passed else "no deadline has passed"
        return RunResult(considered=len(order), reason=reason)
    return _queued(store, items, len(order), "")


def _lead_notices(rt, statuses, regular, order, slot) -> list[tuple[str, Notice]]:
    units = rt.services.units_of
    laggards: dict[str, dict[int, list[str]]] = {}
    for ind_id in sorted(units):
        if ind_id not in regular:
            continue
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
    out = []
    for lead in order:
        notice = compose_lead_notice(lead, laggards.get(lead, {}), _door(rt, lead))
        if notice is not None:
            out.append((f"digest:{slot}:lead:{lead}", notice))
    return out


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


def compose_ranking(
    rows: list[RankRow],
    last: dict[str, int],
    when: str,
    bonus: dict[str, list[int]] | None = None,
    door: Callable[[str], list[Button]] | None = None,
) -> list[Notice]:
    """One notice per department (its rank, score and change, and the buttons of its page that
    `door` gives) and the office's table, with the departments that have offered bonus
    evidence listed apart (`bonus`)."""
    n = len(rows)
    out = []
    for r in rows:
        s = r.score
        out.append(
            Notice(
                with_actions(
                    f"**📊 进度排名 · {s.department}（{when}）**\n"
                    f"全区第 {r.rank} / {n} 名{texts.tie_note(sharing(rows, r))}，"
                    f"完成率 {s.percent}%（已完成 {s.done_count}/{s.total_count} 项）\n"
                    f"{rank_change(last, r)}。发送「排行」查看全区排名。\n{texts.RANKING_RULE}",
                    door(s.department) if door else [],
                ),
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
    table.append(texts.RANKING_RULE)
    if bonus:
        table.append(texts.bonus_line(bonus))
    out.append(Notice("\n".join(table), "", (), "ranking"))
    return out


def send_ranking(rt, now: datetime, slot: str) -> RunResult:
    """Rank every department, queue the notices and remember the ranks, once per slot; after
    the last deadline weekly, after the campaign's end never. Bonus and deduction items do not
    count; bonus evidence is listed apart."""
    quiet = _today(rt, now, on_demand=slot.startswith("now-"))[3]  # 立即推送排名
    if quiet:
        return RunResult(reason=quiet)
    statuses, overrides, reached, last = rt.store.assignments.ranking_inputs()
    stars = starred_ids(rt.catalog, overrides)
    rows = rank(compute_scores(statuses, stars, reached, rt.catalog.regular_ids))
    if not rows:
        return RunResult(reason="no departments")
    local = rt.calendar.local_now(now)
    bonus = bonus_contributors(statuses, rt.catalog.bonus_ids)
    notices = compose_ranking(
        rows, last, f"{_month_day(local)} {local:%H:%M}", bonus, lambda d: _door(rt, d)(())
    )
    ranks = {r.score.department: r.rank for r in rows}
    if not rt.store.outbox.publish_ranking(f"rank:{slot}", ranks, notices):
        return RunResult(considered=len(rows), reason="already sent for this slot")
    return RunResult(queued=len(notices), considered=len(rows))


# --- on demand (催办) -------------------------------------------------------------------------


def check_may_remind(calendar, timeline: Timeline, now: datetime) -> None:
    """Nobody's group is woken at night, and an ended campaign reminds nobody."""
    if calendar is not None and calendar.is_quiet(now):
        raise UserError(texts.quiet_hours(calendar, "催办"))
    if calendar is not None and timeline.phase(calendar.local_today(now)) == ENDED:
        raise UserError("本次创建活动已结束，不再推送提醒。")


def remind_now(
    store, catalog, calendar, timeline: Timeline, enqueue, department: str, rest_min: int = 60
) -> str:
    """催办 from chat or the admin pages: queue reminders now for `department` (a full name;
    "" = every department with open items); the sentence that says so. Each department then
    rests `rest_min` minutes (DUBAN_REMIND_COOLDOWN_MIN, shared by chat and the admin's
    button): a group is not woken twice in a row because two people in the office pressed."""
    now = store.clock()
    check_may_remind(calendar, timeline, now)
    regular = catalog.regular_ids  # bonus and deduction items are nobody's chore
    open_count: dict[str, int] = {}
    for (ind, d), (_, status) in store.assignments.statuses().items():
        if ind in regular and not status.is_complete:
            open_count[d] = open_count.get(d, 0) + 1
    if department and not open_count.get(department):
        raise UserError(f"{department}没有未完成的事项，无需催办。")
    targets = [department] if department else sorted(open_count)
    if not targets:
        return "所有部门的事项均已完成，无需催办。"
    at = store.now_iso()
    claimed = store.reminders.claim(targets, at, rest_min * 60)
    if not claimed:
        raise UserError(_resting(store, calendar, department, rest_min))
    minute = (calendar.local_now(now) if calendar else now).strftime("%Y-%m-%d-%H%M")
    some = not department and len(claimed) < len(targets)
    try:
        enqueue(
            "bot.jobs.send_reminders",
            job_id=job_id(
                "remind-now", department or (_digest(claimed) if some else "all"), minute
            ),
            slot=f"now-{minute}",
            department=department,
            departments=claimed if some else None,
            now_iso=at,
        )
    except Exception:
        store.reminders.release(claimed, at)  # nothing was sent: the cool-down must not hold
        raise
    if department:
        again = f"{rest_min} 分钟内不再重复催办该部门。" if rest_min else ""
        return (
            f"已安排向{department}推送催办提醒（未完成 {open_count[department]} 项），稍后送达。"
            f"{again}"
        )
    items = sum(open_count[d] for d in claimed)
    skipped = len(targets) - len(claimed)
    rest = f"另有 {skipped} 个部门 {rest_min} 分钟内刚催办过，本次跳过。" if skipped else ""
    return f"已安排向 {len(claimed)} 个部门推送催办提醒（共 {items} 项未完成），稍后送达。{rest}"


def _resting(store, calendar, department: str, rest_min: int) -> str:
    """Why nothing was pushed: every target was reminded within the cool-down."""
    if not department:
        return f"所有未完成的部门都在 {rest_min} 分钟内催办过，请稍后再试。"
    last = store.reminders.cooldowns([department]).get(department)
    if last is None:  # its cool-down ended between the two reads: simply try again
        return f"{department}刚刚催办过，请稍后再试。"
    when, left = last
    local = datetime.fromisoformat(when.replace("Z", "+00:00"))
    hhmm = (calendar.local_now(local) if calendar else local).strftime("%H:%M")
    return f"{department}已于 {hhmm} 催办过，为免频繁打扰，请 {-(-left // 60)} 分钟后再催办。"


def _digest(departments: list[str]) -> str:
    """A short name for a set of departments: two partial 催办 in one minute are two jobs."""
    return "some-" + hashlib.sha1("|".join(departments).encode()).hexdigest()[:10]
