"""Reading and filling the outbox in tests (the product only drains it, bot/delivery.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from bot.messages import Notice
from bot.store.base import notice_of

_markers = itertools.count(1)


def read_outbox(store, after_id: str = "0", count: int = 100) -> list[tuple[str, Notice, str]]:
    """(entry id, notice, created at) in order, after `after_id`."""
    low = f"({after_id}" if after_id != "0" else "-"
    rows = store.r.xrange(store.keys.outbox, min=low, count=count)
    return [(eid.decode(), *notice_of(f)) for eid, f in rows]


def queue_notices(store, notices: Iterable[Notice]) -> int:
    """Queue notices as the jobs do (each under a sent-marker of its own)."""
    return store.outbox.add_once((f"test:{next(_markers)}", n) for n in notices)
