"""The background link check: fetch queued URLs (bot.links), record their state, and give a
material submitted without a name its page title (an audited, compare-and-set change).

A link is checked when it is submitted and again and again after that: a page that was down for
an hour is not reported dead until the inspection, and one that vanishes after submission is
noticed. New links go first; then those due for another look (RECHECK_*), while a material
still uses them: a link no material holds any more is dropped unfetched.

Hostile sites cannot hold the job: every check has one deadline (bot.links), a run starts no
check after RUN_BUDGET_S, and a link is put back an hour before it is fetched, so a run that
dies on it does not meet it again the next minute. The job has a queue and a worker of its
own (bot.queue.LINKS), so a slow check never holds a notice or a reply back."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime

from bot.links import check_link
from bot.records import Change, ConflictError

log = logging.getLogger(__name__)

ACTOR = "system:linkcheck"

RECHECK_OK_S = 3 * 86400  # a working link is looked at again every three days
# a failing one soon, then less often: after its 1st, 2nd, and 3rd or later failure in a row
RECHECK_FAILED_S = (3600, 6 * 3600, 86400)
RUN_BUDGET_S = 90.0  # a run starts no new check after this; the rest waits for the next run


def next_check_in(ok: bool, fails: int) -> int:
    """Seconds until the next check of a link, given this one's outcome and the failures in a
    row it makes."""
    if ok:
        return RECHECK_OK_S
    return RECHECK_FAILED_S[min(fails, len(RECHECK_FAILED_S)) - 1]


def check_queued_links(
    rt, now: datetime, limit: int = 20, budget_s: float = RUN_BUDGET_S, **check_options
) -> dict:
    """Check up to `limit` links, new ones first, then those due again, starting none after
    `budget_s` seconds; returns counts of checked, rechecked, dead, titles filled, links no
    material uses any longer, and links left for the next run."""
    store = rt.store
    fresh = store.links.queued(limit)
    due = store.links.due(now.timestamp(), limit - len(fresh)) if len(fresh) < limit else []
    unused: list[str] = []
    if fresh or due:
        in_use = _urls_in_use(rt)
        unused = [u for u in (*fresh, *due) if u not in in_use]
        store.links.forget(unused)
        fresh = [u for u in fresh if u in in_use]
        due = [u for u in due if u in in_use]
    before = store.links.states(due)
    titles: dict[str, str] = {}
    dead = checked = 0
    started = time.monotonic()
    for url in (*fresh, *due):
        if time.monotonic() - started > budget_s:
            break
        store.links.plan(url, now.timestamp() + RECHECK_FAILED_S[0])
        result = check_link(url, allow=rt.settings.link_allow, clock=lambda: now, **check_options)
        checked += 1
        fails = 0 if result.ok else before.get(url, {}).get("fails", 0) + 1
        state = result.to_dict()
        del state["url"]
        state["status"] = "" if result.status is None else result.status
        store.links.record(
            url, {**state, "fails": fails}, now.timestamp() + next_check_in(result.ok, fails)
        )
        dead += not result.ok
        if result.title:
            titles[url] = result.title
    filled = fill_titles(rt, titles) if titles else 0
    return {
        "checked": checked, "rechecked": max(0, checked - len(fresh)), "dead": dead,
        "titles_filled": filled, "forgotten": len(unused), "left": len(fresh) + len(due) - checked,
    }  # fmt: skip


def _urls_in_use(rt) -> set[str]:
    """Every link a material of any department holds now."""
    everything = rt.store.assignments.of_departments(rt.assigned_departments())
    return {m.url for a in everything.values() for m in a.materials if m.url}


def fill_titles(rt, titles: dict[str, str]) -> int:
    """Name every untitled material whose URL is in `titles` after its page title.

    Materials have no URL index, so one pipelined read of every department finds the owners;
    it runs only when a checked page had a title.
    """
    departments = rt.assigned_departments()
    owners = [
        (ind, dept)
        for (ind, dept), a in rt.store.assignments.of_departments(departments).items()
        if any(m.url in titles and not m.title for m in a.materials)
    ]
    filled = 0
    for ind, dept in owners:
        for _ in range(5):
            a, raw = rt.store.assignments.get(ind, dept)
            if a is None:
                break
            materials = tuple(
                replace(m, title=titles[m.url]) if m.url in titles and not m.title else m
                for m in a.materials
            )
            if materials == a.materials:
                break
            after = a.changed(ACTOR, rt.store.now_iso(), materials=materials)
            note = "网页标题作为材料名称"
            try:
                rt.store.assignments.save(
                    Change(raw, after, ACTOR, "link_title", undo="keep", note=note)
                )
            except ConflictError:
                continue  # someone changed it meanwhile: read again
            filled += sum(1 for x, y in zip(a.materials, materials, strict=True) if x != y)
            break
    return filled
