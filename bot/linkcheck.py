"""The background link check: fetch queued URLs (bot.links), record their state, and give a
material submitted without a name its page title (an audited, compare-and-set change)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from bot.links import check_link
from bot.records import Change, ConflictError

log = logging.getLogger(__name__)

ACTOR = "system:linkcheck"


def check_queued_links(rt, now: datetime, limit: int = 20, **check_options) -> dict:
    """Check up to `limit` queued URLs; returns counts of checked, dead and titles filled."""
    urls = rt.store.queued_links(limit)
    titles: dict[str, str] = {}
    dead = 0
    for url in urls:
        result = check_link(url, allow=rt.settings.link_allow, clock=lambda: now, **check_options)
        rt.store.set_link_state(
            url,
            {
                "ok": result.ok,
                "status": "" if result.status is None else result.status,
                "title": result.title,
                "error": result.error,
                "final_url": result.final_url,
                "checked_at": result.checked_at.isoformat() if result.checked_at else "",
            },
        )
        dead += not result.ok
        if result.title:
            titles[url] = result.title
    filled = fill_titles(rt, titles) if titles else 0
    return {"checked": len(urls), "dead": dead, "titles_filled": filled}


def fill_titles(rt, titles: dict[str, str]) -> int:
    """Name every untitled material whose URL is in `titles` after its page title.

    Materials have no URL index, so one pipelined read of every department finds the owners;
    it runs only when a checked page had a title.
    """
    departments = sorted({d for _, d in rt.assignments})
    owners = [
        (ind, dept)
        for (ind, dept), a in rt.store.assignments_of(departments).items()
        if any(m.url in titles and not m.title for m in a.materials)
    ]
    filled = 0
    for ind, dept in owners:
        for _ in range(5):
            a, raw = rt.store.assignment(ind, dept)
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
                rt.store.save(Change(raw, after, ACTOR, "link_title", undo="keep", note=note))
            except ConflictError:
                continue  # someone changed it meanwhile: read again
            filled += sum(1 for x, y in zip(a.materials, materials, strict=True) if x != y)
            break
    return filled
