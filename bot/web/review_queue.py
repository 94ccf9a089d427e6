"""待审核: every item a department marked 已完成 and the office has not reviewed yet, oldest
first, with its evidence inline; and the bulk 通过/退回 of the queue's page, one bot.office act
per item (each audited and told to its department as a single one is)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot import office, rules
from bot.errors import UserError
from bot.progress import Status
from bot.runtime import Runtime
from bot.web import views

SHOWN = 50  # rows on one page: the oldest; the rest are counted and come as these are done


def key_of(indicator_id: int, department: str) -> str:
    """A row's form value: the department whole after the first "|" (a name may hold one)."""
    return f"{indicator_id}|{department}"


def parse_key(value: str) -> tuple[int, str] | None:
    ind, sep, dept = value.partition("|")
    if not sep or not ind.isdigit() or not dept or len(ind) > 6:
        return None
    return int(ind), dept


def queue(rt: Runtime, indicator: int | None = None, department: str = "") -> dict:
    """The queue, filtered by `indicator` and `department` ("" / None: all): rows oldest first
    (by the time of the item's last change, which for a 已完成 item is when it was marked so or
    last touched since), the filters' choices, and the counts."""
    waiting = [k for k, (_, st) in rt.store.assignments.statuses().items() if st is Status.DONE]
    chosen = [
        (i, d)
        for i, d in waiting
        if (indicator is None or i == indicator) and (not department or d == department)
    ]
    loaded = rt.store.assignments.at(chosen)
    # The status index is re-checked against the assignment itself (the one source of truth).
    items = [loaded[k] for k in chosen if k in loaded and loaded[k].status is Status.DONE]
    items.sort(key=lambda a: (a.updated_at, a.indicator_id, a.department))
    shown = items[:SHOWN]
    links = rt.store.links.states(m.url for a in shown for m in a.materials if m.url)
    threads = rt.store.comments.threads((a.indicator_id, a.department) for a in shown)
    stars = views.starred(rt)
    today = views.local_today(rt)
    rows = []
    for a in shown:
        ind = rt.catalog.get(a.indicator_id)
        row = views.assignment_dict(a, links, ind)
        row["key"] = key_of(a.indicator_id, a.department)
        row["level3"] = ind.level3 if ind else ""
        row["star"] = a.indicator_id in stars
        row["waiting_days"] = _days_since(rt, a.updated_at, today)
        row["comments"] = threads.get((a.indicator_id, a.department), [])
        rows.append(row)
    return {
        "rows": rows,
        "total": len(waiting),
        "matching": len(items),
        "more": len(items) - len(shown),
        "indicators": sorted({i for i, _ in waiting}),
        "departments": sorted({d for _, d in waiting}, key=_org_order(rt)),
    }


def _org_order(rt: Runtime):
    order = {d: n for n, d in enumerate(rt.org.departments)}
    return lambda d: (order.get(d, len(order)), d)


def _days_since(rt: Runtime, at: str, today: dt.date) -> int | None:
    try:
        when = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (today - rt.calendar.local_now(when).date()).days


@dataclass(frozen=True)
class Outcome:
    done: list[str]  # what was changed, one sentence each
    refused: list[str]  # why an item was left as it was


def act(
    rt: Runtime,
    action: str,
    keys: list[tuple[int, str]],
    *,
    reason: str = "",
    rework: dt.date | None = None,
    actor: str,
) -> Outcome:
    """通过 or 退回 each item through bot.office (its own audit entry and notice). 通过 here is
    only for 已完成 items: anything else is refused with the reason and left unchanged."""
    done: list[str] = []
    refused: list[str] = []
    for ind, dept in keys:
        try:
            if action == "approve":
                out = office.approve(rt, ind, dept, confirmed=False, actor=actor)
            else:
                out = office.return_item(rt, ind, dept, reason, actor=actor, rework=rework)
        except rules.NeedsConfirmation as e:
            refused.append(
                f"{dept}第{ind}项{e.doubt}，不在待审核之列，没有通过。"
                f"如确需通过，请打开第{ind}项的页面，在{dept}一栏点「通过」并确认。"
            )
            continue
        except UserError as e:
            refused.append(str(e))
            continue
        (done if out.changed else refused).append(out.message)
    return Outcome(done, refused)
