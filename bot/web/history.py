"""An indicator's and a department's newest audit entries without scanning the log.

The log is append-only: each process keeps, per indicator and per department, the ids of the
newest entries it has seen (at most KEEP each) and on every look reads only what was added since
(store.audit_refs), then fetches the wanted entries by id. The pages showed the same entries by
filtering the whole log newest first, which at 1,000 departments meant reading it all for one
indicator's page. An entry never changes, so each one is fetched once per process and kept
(at most CACHED); one read of the log's oldest id tells which of them it has trimmed since.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from bot.records import AuditEntry
from bot.runtime import Runtime

KEEP = 200  # the most any page shows (the indicator page's history)
CACHED = 50_000  # entries kept per process, then forgotten all at once and fetched again


@dataclass
class Index:
    by_indicator: dict[int, deque] = field(default_factory=dict)
    by_department: dict[str, deque] = field(default_factory=dict)
    last_id: str = ""
    entries: dict[str, AuditEntry] = field(default_factory=dict)  # id -> the entry, as read
    lock: threading.Lock = field(default_factory=threading.Lock)


def _index(rt: Runtime) -> Index:
    ix = rt.cache.setdefault("audit_index", Index())
    with ix.lock:
        if ix.last_id and not rt.store.audit.has(ix.last_id):  # the store was emptied
            ix.by_indicator, ix.by_department, ix.last_id, ix.entries = {}, {}, "", {}
        refs, ix.last_id = rt.store.audit.refs(ix.last_id)
        for eid, ind, dept in refs:
            if ind is not None:
                ix.by_indicator.setdefault(ind, deque(maxlen=KEEP)).append(eid)
            if dept:
                ix.by_department.setdefault(dept, deque(maxlen=KEEP)).append(eid)
        return ix


def recent(
    rt: Runtime, count: int, indicator: int | None = None, department: str = ""
) -> list[AuditEntry]:
    """The newest `count` (at most KEEP) entries of an indicator or of a department, newest
    first, as store.audit.page(count, indicator=…) or (department=…) lists them."""
    ix = _index(rt)
    with ix.lock:
        found = ix.by_indicator.get(indicator) if indicator is not None else None
        if department:
            found = ix.by_department.get(department)
        ids = list(reversed(found or ()))[: min(count, KEEP)]
    if not ids:
        return []
    first = _order(rt.store.audit.first_id() or "0-0")
    ids = [i for i in ids if _order(i) >= first]  # the ones the log still holds
    with ix.lock:
        known = {i: ix.entries[i] for i in ids if i in ix.entries}
    missing = [i for i in ids if i not in known]
    if missing:
        fetched = {e.id: e for e in rt.store.audit.by_ids(missing)}
        known.update(fetched)
        with ix.lock:
            if len(ix.entries) + len(fetched) > CACHED:
                ix.entries.clear()
            ix.entries.update(fetched)
    return [known[i] for i in ids if i in known]


def _order(entry_id: str) -> tuple[int, int]:
    """A stream entry id ("1597370400000-0") as its place in the log."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
