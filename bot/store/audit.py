"""The audit log: one stream entry per change of state, newest read first."""

from __future__ import annotations

import re

from bot.records import AuditEntry
from bot.store.base import Area, _s

_STATUS_IN_JSON = re.compile(r'"status":"([a-z_]+)"')  # first one: the assignment's own


class AuditLog(Area):
    """The audit log: one stream entry per change of state, newest read first."""

    def length(self) -> int:
        return int(self.r.xlen(self.keys.audit))

    def entries(
        self, count: int = 100, before_id: str = "+", department: str = "", action: str = ""
    ) -> list[AuditEntry]:
        """Newest first; filters are applied after reading (the log is append-only and small)."""
        out: list[AuditEntry] = []
        cursor = before_id
        while len(out) < count:
            batch = self.r.xrevrange(self.keys.audit, max=cursor, min="-", count=max(count, 200))
            if cursor != "+" and batch and _s(batch[0][0]) == cursor:
                batch = batch[1:]
            if not batch:
                break
            for eid, f in batch:
                e = _audit_entry(eid, f)
                if department and e.department != department:
                    continue
                if action and e.action != action:
                    continue
                out.append(e)
                if len(out) >= count:
                    break
            cursor = _s(batch[-1][0])
        return out

    def page(
        self,
        count: int = 100,
        before_id: str = "+",
        department: str = "",
        action: str = "",
        indicator: int | None = None,
        actor: str = "",
        max_scan: int = 20000,
    ) -> tuple[list[AuditEntry], str]:
        """Newest first, filtered; returns (entries, cursor for the next page or "" at the end).

        Scans at most `max_scan` entries per call, so a rare filter cannot read the whole log;
        the cursor then points where the scan stopped and the caller may continue from it.
        """
        out: list[AuditEntry] = []
        cursor, scanned = before_id, 0
        while len(out) < count and scanned < max_scan:
            batch = self.r.xrevrange(
                self.keys.audit, max=cursor if cursor == "+" else f"({cursor}", min="-", count=500
            )
            if not batch:
                return out, ""
            for eid, f in batch:
                scanned += 1
                cursor = _s(eid)
                e = _audit_entry(eid, f)
                if (
                    (department and e.department != department)
                    or (action and e.action != action)
                    or (indicator is not None and e.indicator != indicator)
                    or (actor and e.actor != actor)
                ):
                    continue
                out.append(e)
                if len(out) >= count:
                    break
        # a full page or a scan cut short: there may be more (an empty next page ends the walk)
        return out, cursor

    def activity(
        self, after_id: str = "", batch: int = 5000
    ) -> tuple[list[tuple[str, str, str, int | None, str, str]], str]:
        """The log after `after_id` ("" = all), oldest first, as (at, actor, action, indicator,
        department, status after the change or ""), and the id of the last entry read: what the
        cockpit replays (burn-up, last activity), reading only what is new since its last look.
        The status is taken from the stored assignment JSON without decoding its materials."""

        def row(_eid, f) -> tuple[str, str, str, int | None, str, str]:
            after = _s(f.get(b"after", b""))
            m = _STATUS_IN_JSON.search(after) if after.startswith("{") else None
            ind = _s(f.get(b"indicator", b""))
            return (
                _s(f.get(b"at", b"")),
                _s(f.get(b"actor", b"")),
                _s(f.get(b"action", b"")),
                int(ind) if ind.isdigit() else None,
                _s(f.get(b"department", b"")),
                m.group(1) if m else "",
            )

        return self._walk(after_id, batch, row)

    def refs(
        self, after_id: str = "", batch: int = 5000
    ) -> tuple[list[tuple[str, int | None, str]], str]:
        """(entry id, indicator, department) of the log after `after_id` ("" = all), oldest
        first, and the id of the last entry read: what a page indexes to find an indicator's or
        a department's history without scanning the log (bot/web/history.py)."""

        def row(eid, f) -> tuple[str, int | None, str]:
            ind = _s(f.get(b"indicator", b""))
            return _s(eid), int(ind) if ind.isdigit() else None, _s(f.get(b"department", b""))

        return self._walk(after_id, batch, row)

    def _walk(self, after_id: str, batch: int, row) -> tuple[list, str]:
        """row(entry id, fields) of every entry after `after_id` ("" = all), oldest first, read
        `batch` at a time, and the id of the last entry read."""
        out = []
        cursor = f"({after_id}" if after_id else "-"
        last = after_id
        while True:
            rows = self.r.xrange(self.keys.audit, min=cursor, max="+", count=batch)
            if not rows:
                return out, last
            last = _s(rows[-1][0])
            out += [row(eid, f) for eid, f in rows]
            if len(rows) < batch:
                return out, last
            cursor = f"({last}"

    def has(self, entry_id: str) -> bool:
        """Whether the log still holds this entry (a store emptied and refilled does not)."""
        return bool(self.r.xrange(self.keys.audit, min=entry_id, max=entry_id, count=1))

    def first_id(self) -> str:
        """The id of the oldest entry the log holds ("" when empty); it is trimmed (MAXLEN) from
        that end only, so an entry with a smaller id is gone."""
        rows = self.r.xrange(self.keys.audit, count=1)
        return _s(rows[0][0]) if rows else ""

    def by_ids(self, ids: list[str]) -> list[AuditEntry]:
        """The given entries, in the given order; those no longer in the log are left out."""
        pipe = self.r.pipeline(transaction=False)
        for eid in ids:
            pipe.xrange(self.keys.audit, min=eid, max=eid, count=1)
        return [_audit_entry(*rows[0]) for rows in (pipe.execute() if ids else []) if rows]


def _audit_entry(eid, fields) -> AuditEntry:
    f = {_s(a): _s(b) for a, b in fields.items()}
    ind = f.get("indicator", "")
    return AuditEntry(
        id=_s(eid),
        at=f.get("at", ""),
        actor=f.get("actor", ""),
        action=f.get("action", ""),
        department=f.get("department", ""),
        indicator=int(ind) if ind else None,
        before=f.get("before", ""),
        after=f.get("after", ""),
        note=f.get("note", ""),
    )
