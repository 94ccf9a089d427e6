"""Notices waiting to be pushed, the drainers' consumer group, sent-markers and rankings."""

from __future__ import annotations

from collections.abc import Iterable

from bot.messages import Notice
from bot.store.base import Area, _notice_args, _s, notice_of


class Outbox(Area):
    """Notices waiting to be pushed, the drainers' consumer group, sent-markers and rankings."""

    def latest(self, count: int = 200) -> list[tuple[str, Notice, str]]:
        """The newest `count` outbox entries, newest first: (entry id, notice, created at)."""
        return [
            (_s(eid), *notice_of(f)) for eid, f in self.r.xrevrange(self.keys.outbox, count=count)
        ]

    def add_once(self, items: Iterable[tuple[str, Notice]], ttl_s: int = 8 * 86400) -> int:
        """Append each (marker, notice) unless its sent-marker exists; returns how many were new.

        One script: the marker (SET NX EX) and the outbox entry are written together, so a retried
        or duplicated job never posts the same notice twice.
        """
        items = list(items)
        if not items:
            return 0
        at = self.now_iso()
        keys = [self.keys.outbox, *(self.keys.marker(m) for m, _ in items)]
        args = [str(ttl_s), *_notice_args((n for _, n in items), at)]
        return int(self._script("notices_once")(keys=keys, args=args))

    def publish_ranking(
        self,
        marker: str,
        ranks: dict[str, int],
        notices: Iterable[Notice],
        actor: str = "system:ranking",
        ttl_s: int = 8 * 86400,
    ) -> bool:
        """Store the ranks as the last ranking and queue the ranking notices, once per marker.

        False when this marker's ranking was already published (nothing is written).
        """
        k = self.keys
        at = self.now_iso()
        flat = [x for d, r in ranks.items() for x in (d, str(r))]
        ok = self._script("publish_ranking")(
            keys=[k.marker(marker), k.last_ranking, k.outbox, k.audit],
            args=[str(ttl_s), at, actor, marker, str(len(ranks)), *flat]
            + _notice_args(notices, at),
        )
        return bool(ok)

    def ensure_group(self, group: str) -> None:
        """Create the outbox's consumer group (from the first entry) unless it exists."""
        self._ensure_group(self.keys.outbox, group)

    def _read_group(
        self, stream: str, group: str, consumer: str, count: int, min_idle_ms: int
    ) -> list[tuple[str, dict[str, str]]]:
        """Entries for `consumer`: first those another consumer read and left unacknowledged
        for `min_idle_ms` (XAUTOCLAIM: it crashed), then new ones (XREADGROUP). Entries deleted
        from the stream meanwhile are acknowledged here."""
        claimed = self.r.xautoclaim(stream, group, consumer, min_idle_ms, "0-0", count=count)
        rows, gone = [], []
        for eid, f in claimed[1] if len(claimed) > 1 else []:
            (rows if f else gone).append((eid, f))
        if gone:
            self.r.xack(stream, group, *(eid for eid, _ in gone))
        if len(rows) < count:
            fresh = self.r.xreadgroup(group, consumer, {stream: ">"}, count=count - len(rows))
            for _stream, entries in fresh or []:
                rows.extend(entries)
        return [(_s(eid), {_s(a): _s(b) for a, b in f.items()}) for eid, f in rows]

    def read_group(
        self, group: str, consumer: str, count: int = 100, min_idle_ms: int = 60_000
    ) -> list[tuple[str, Notice, str]]:
        """Outbox entries for `consumer` (see _read_group)."""
        rows = self._read_group(self.keys.outbox, group, consumer, count, min_idle_ms)
        return [(eid, *notice_of(f)) for eid, f in rows]

    def ack(self, group: str, entry_ids: Iterable[str]) -> int:
        ids = list(entry_ids)
        return int(self.r.xack(self.keys.outbox, group, *ids)) if ids else 0

    def request_drain(self, group: str, debounce_ms: int) -> bool:
        """True (once per `debounce_ms`) when the outbox has entries the group has not read:
        the caller then enqueues one drain. One round trip, cheap enough for every callback."""
        k = self.keys
        return bool(
            self._script("finish")(
                keys=[k.none, k.outbox, k.drain_pending], args=["", 0, group, debounce_ms]
            )
        )

    def clear_drain_request(self) -> None:
        self.r.delete(self.keys.drain_pending)
