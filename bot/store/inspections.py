"""The September inspection's marks (bot/inspection.py): per department, indicator -> mark."""

from __future__ import annotations

import json
from collections.abc import Iterable

from bot.records import ConflictError
from bot.store.base import Area, _s


class Inspections(Area):
    """The inspectors' marks (已查验 / 有问题, a note, photos), one hash per department."""

    def mark(self, department: str, indicator_id: int) -> tuple[str, dict | None]:
        """(the stored JSON as read, for compare-and-set; the mark as a dict or None)."""
        raw = _s(self.r.hget(self.keys.inspection(department), str(indicator_id)))
        return raw, (json.loads(raw) if raw else None)

    def marks(self, departments: Iterable[str]) -> dict[str, dict[int, dict]]:
        """Every department's marks (indicator -> mark dict), one pipelined read."""
        departments = list(departments)
        pipe = self.r.pipeline(transaction=False)
        for d in departments:
            pipe.hgetall(self.keys.inspection(d))
        return {
            d: {int(_s(k)): json.loads(_s(v)) for k, v in flat.items()}
            for d, flat in zip(departments, pipe.execute(), strict=True)
        }

    def set_mark(
        self,
        department: str,
        indicator_id: int,
        expected: str,
        mark: dict,
        actor: str,
        note: str,
    ) -> None:
        """Replace an item's mark if it is still `expected` (the JSON read, "" = none), with
        one audit entry (action `inspect`); ConflictError when it changed meanwhile."""
        new = json.dumps(mark, ensure_ascii=False, separators=(",", ":"))
        ok = self._script("set_inspection_mark")(
            keys=[self.keys.inspection(department), self.keys.audit],
            args=[str(indicator_id), expected, new, self.now_iso(), actor, department, note],
        )
        if not ok:
            raise ConflictError(f"inspection {department} {indicator_id}")
