"""The department × indicator threads between a unit and the office."""

from __future__ import annotations

import json
from collections.abc import Iterable

from bot.messages import Notice
from bot.store.base import Area, _notice_args, _s


class Comments(Area):
    """The department × indicator threads between a unit and the office."""

    def add(
        self,
        indicator_id: int,
        department: str,
        comment: dict,
        actor: str,
        notices: tuple[Notice, ...] = (),
        claim: tuple[str, str] | None = None,
    ) -> None:
        """Append `comment` ({"side", "name", "text", "at"}) to the department × indicator
        thread, audited as `comment` (its text the note), with its notices."""
        at = self.now_iso()
        entry = json.dumps({**comment, "at": at, "by": actor}, ensure_ascii=False)
        self._script("add_comment")(
            keys=[
                self.keys.comments(indicator_id, department),
                self.keys.audit,
                self.keys.outbox,
                self._seen_of(claim),
            ],
            args=[entry, at, actor, department, str(indicator_id), comment["text"],
                  str(len(notices)), *_notice_args(notices, at)],
        )  # fmt: skip

    def threads(self, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], list]:
        """The threads of (indicator, department) pairs, oldest comment first (empty ones left
        out)."""
        pairs = list(pairs)
        pipe = self.r.pipeline(transaction=False)
        for ind, dept in pairs:
            pipe.lrange(self.keys.comments(ind, dept), 0, -1)
        return {
            p: [json.loads(_s(c)) for c in raw]
            for p, raw in zip(pairs, pipe.execute(), strict=True)
            if raw
        }
