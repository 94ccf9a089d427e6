"""Callbacks: message-id claims (dedupe and stored replies), and the inbox stream of callbacks
acknowledged at once and answered by a worker."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from bot.records import Finish, Finished
from bot.store.base import Area, _field, _s, begun_args, finished


@dataclass
class Unflushed:
    """What an answering consumer still has to write once a batch is answered: the entries to
    acknowledge and delete, and the reply parts it posted that are still marked as being sent
    (push_id, part, claim token, marker ttl). Both go with its next read, in the same round
    trip; both are idempotent, so after a failed round trip they are simply written again."""

    acks: list[str] = field(default_factory=list)
    ends: list[tuple[str, int, str, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.acks or self.ends)

    def clear(self) -> None:
        self.acks.clear()
        self.ends.clear()


class Inbox(Area):
    """Callbacks: message-id claims (dedupe and stored replies), and the inbox stream of callbacks
    acknowledged at once and answered by a worker."""

    def claim(self, platform: str, message_id: str) -> tuple[bool, str]:
        """(True, "") the first time a platform message id is seen; else (False, stored reply).

        The stored reply is "" while the first copy is still being handled. The claim lasts
        `claim_ttl_s` unless the command's effect or reply is committed (see `hold` in lua/shared.lua).
        """
        key = self.keys.seen(platform, message_id)
        pipe = self.r.pipeline(transaction=False)  # one round trip, first copy or not
        claimed, stored = pipe.set(key, "", nx=True, ex=self.claim_ttl_s).get(key).execute()
        return (True, "") if claimed else (False, _s(stored))

    def claim_committed(self, platform: str, message_id: str) -> bool:
        """Whether a claim without a reply is held for the dedupe window: its command committed
        and the run died (or Redis failed) before the reply was stored. A claim that committed
        nothing keeps its short expiry, and goes by itself."""
        return int(self.r.ttl(self.keys.seen(platform, message_id))) > self.claim_ttl_s

    def stored_reply(self, platform: str, message_id: str) -> str | None:
        """What a message id holds, claiming nothing: None when unclaimed (never seen, released
        or expired), "" while claimed, else the stored reply."""
        raw = self.r.get(self.keys.seen(platform, message_id))
        return None if raw is None else _s(raw)

    def release_claim(self, platform: str, message_id: str) -> bool:
        """Forget a claim whose command left nothing behind (its save did not happen), so the
        platform's redelivery runs it; a stored reply is never removed."""
        key = self.keys.seen(platform, message_id)
        return bool(self._script("release_claim")(keys=[key], args=[]))

    def accept(self, platform: str, message_id: str, payload: str, ttl: int = 86400) -> bool:
        """One round trip for a callback answered later: claim its message id and queue it on
        the inbox stream, where the answering consumer's blocking read wakes up for it. False
        when a copy was accepted before (nothing queued)."""
        k = self.keys
        return bool(
            self._durable(
                self._script("accept"),
                [k.accepted(platform, message_id), k.inbox],
                [ttl, payload],
            )
        )

    def ensure_group(self, group: str) -> None:
        self._ensure_group(self.keys.inbox, group)

    def read(
        self,
        group: str,
        consumer: str,
        count: int = 50,
        block_ms: int | None = None,
        flush: Unflushed | None = None,
    ) -> list[tuple[str, str]]:
        """(entry id, payload) of accepted callbacks no consumer has read yet, waiting up to
        `block_ms` for one when there are none (None: not at all). With `flush`, what it holds
        is written first, in the same round trip (then it is emptied)."""
        pipe = self._pipe()
        if flush:
            self._flush(pipe, group, flush)
        pipe.xreadgroup(group, consumer, {self.keys.inbox: ">"}, count, block_ms)
        fresh = self._execute(pipe)[-1]
        if flush:
            flush.clear()
        return [(_s(eid), _field(f, "msg")) for _st, rows in fresh or [] for eid, f in rows]

    def flush(self, group: str, flush: Unflushed) -> None:
        """Write what `flush` holds now (one round trip), then empty it."""
        if flush:
            pipe = self._pipe()
            self._flush(pipe, group, flush)
            self._execute(pipe)
            flush.clear()

    def _flush(self, pipe, group: str, flush: Unflushed) -> None:
        # the parts first: once an entry is acknowledged nobody reads it again, so a part's
        # "sent" mark only matters until then
        # A plain EVALSHA: redis-py's Script queued on a pipeline makes each execute ask SCRIPT
        # EXISTS first, a round trip more per read (see _execute for a Redis that lost it).
        sha = self._script("push_end").sha
        for push_id, part, token, ttl in flush.ends:
            pipe.evalsha(sha, 1, self.keys.part_marker(push_id, part), token, "sent", ttl)
        if flush.acks:
            pipe.xack(self.keys.inbox, group, *flush.acks)
            pipe.xdel(self.keys.inbox, *flush.acks)

    def _execute(self, pipe) -> list:
        """Run a pipeline of `_flush`. When Redis lost its scripts (a restart), push_end is
        loaded and the error raised: what the pipeline held stays in the Unflushed, written
        again with the next read, and an entry the read took meanwhile is pending under this
        consumer, which reads its own entries first when it starts reading again."""
        try:
            return pipe.execute()
        except redis.exceptions.NoScriptError:
            self.scripts.load(("push_end",))
            raise

    def read_own(
        self, group: str, consumer: str, count: int = 50, after: str = "0"
    ) -> list[tuple[str, str]]:
        """The entries `consumer` read (or took over) and has not acknowledged, after entry id
        `after`. Entries deleted from the stream meanwhile are acknowledged here."""
        rows = self.r.xreadgroup(group, consumer, {self.keys.inbox: after}, count)
        out, gone = [], []
        for _st, entries in rows or []:
            for eid, f in entries:
                if f:
                    out.append((_s(eid), _field(f, "msg")))
                else:
                    gone.append(eid)
        if gone:
            self.r.xack(self.keys.inbox, group, *gone)
        return out

    def mark_consumer(self, consumer: str, ttl_ms: int) -> None:
        """`consumer` is alive for `ttl_ms` more: nobody takes its entries over meanwhile."""
        self.r.set(self.keys.inbox_consumer(consumer), "1", px=ttl_ms)

    def unmark_consumer(self, consumer: str) -> None:
        self.r.delete(self.keys.inbox_consumer(consumer))

    def rescue(
        self,
        group: str,
        consumer: str,
        gone_ms: int,
        reclaim_ms: int,
        orphans: set[str] | None = None,
    ) -> int:
        """Move to `consumer` what other consumers of the inbox left unanswered; how many
        entries it took. A consumer is gone (killed, or its machine died) when its liveness mark
        expired and it has not read for `gone_ms`: all its entries are taken at once and, once
        it has none, it is removed from the group. Any other entry unacknowledged for
        `reclaim_ms` (a consumer that hangs) is taken too. Two consumers rescuing at once take
        each entry once: XCLAIM's minimum idle time fails for an entry just claimed. The ids
        taken from gone consumers are added to `orphans`."""
        stream, taken = self.keys.inbox, 0
        others = [
            (_s(c["name"]), int(c["pending"]))
            for c in self.r.xinfo_consumers(stream, group)
            if _s(c["name"]) != consumer and int(c["idle"]) >= gone_ms
        ]
        if others:
            pipe = self.r.pipeline(transaction=False)
            for name, _ in others:
                pipe.exists(self.keys.inbox_consumer(name))
            marked = pipe.execute()
            for (name, pending), alive in zip(others, marked, strict=True):
                if alive:
                    continue
                if pending:
                    rows = self.r.xpending_range(stream, group, "-", "+", 1000, consumername=name)
                    ids = [r["message_id"] for r in rows]
                    claimed = self.r.xclaim(stream, group, consumer, gone_ms, ids, justid=True)
                    taken += len(claimed)
                    if orphans is not None:
                        orphans.update(_s(i) for i in claimed)
                # Removed once it holds nothing: a consumer removed with pending entries would
                # take them along, never to be read again.
                if not self.r.xpending_range(stream, group, "-", "+", 1, consumername=name):
                    self.r.xgroup_delconsumer(stream, group, name)
        stuck = self.r.xautoclaim(stream, group, consumer, reclaim_ms, "0-0", 100, justid=True)
        return taken + len(stuck)

    def backlog(self) -> int:
        return int(self.r.xlen(self.keys.inbox))

    def finish(self, fin: Finish) -> Finished:
        """The end of a callback that changed nothing: remember the reply for redeliveries and
        say whether to queue a drain of the outbox (see Outbox.request_drain); with
        `fin.begin`, claim the reply's first part too. One round trip."""
        k = self.keys
        keys, args = begun_args(self.r, fin, [k.seen(fin.platform, fin.message_id), k.outbox,
                                               k.drain_pending])  # fmt: skip
        res = self._durable(
            self._script("finish"), keys, [fin.reply or "\x00", fin.ttl, fin.drain_group,
                                           fin.debounce_ms, *args],
        )  # fmt: skip
        return finished(res)
