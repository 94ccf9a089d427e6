"""Files sent in chat, each held for its sender until a number files it (bot/chatfiles.py)."""

from __future__ import annotations

import redis

from bot.messages import Notice
from bot.store.base import Area, _notice_args, _s

NOTICE_FIELDS = ("text", "department", "mentions", "kind", "at")  # as _notice_args orders them


class HeldFiles(Area):
    """One held file per sender (platform, user): JSON with a time to live."""

    def hold(self, platform: str, user_id: str, entry: str, ttl_s: int) -> None:
        """Hold a file sent in chat (JSON `entry`, bot.chatfiles) for its sender, `ttl_s` long;
        a newer file replaces the one held before."""
        self.r.set(self.keys.held_file(platform, user_id), entry, ex=ttl_s)

    def get(self, platform: str, user_id: str) -> str | None:
        return _s(self.r.get(self.keys.held_file(platform, user_id))) or None

    def update(
        self,
        platform: str,
        user_id: str,
        expected: str,
        entry: str,
        notices: tuple[Notice, ...] = (),
    ) -> bool:
        """Compare-and-set of a held file (its download came to an end: stored or refused), with
        the notices telling its sender, in one step; the hold keeps the time it had left. False
        when the hold changed or went."""
        at = self.now_iso()

        def write(pipe) -> None:
            pipe.set(self.keys.held_file(platform, user_id), entry, keepttl=True)
            for n in notices:
                fields = zip(NOTICE_FIELDS, _notice_args((n,), at), strict=True)
                pipe.xadd(self.keys.outbox, dict(fields))

        return self._compare_and(platform, user_id, expected, write)

    def drop(self, platform: str, user_id: str, expected: str) -> bool:
        """Let go of a held file once filed (compare-and-delete: a newer one stays)."""
        return self._compare_and(
            platform,
            user_id,
            expected,
            lambda pipe: pipe.delete(self.keys.held_file(platform, user_id)),
        )

    def _compare_and(self, platform: str, user_id: str, expected: str, write) -> bool:
        """write(pipe) in one transaction if the held file is still `expected`; False when it
        changed or went meanwhile."""
        key = self.keys.held_file(platform, user_id)
        with self.r.pipeline(transaction=True) as pipe:  # WATCH: on a cluster too
            try:
                pipe.watch(key)
                if _s(pipe.get(key)) != expected:
                    pipe.unwatch()
                    return False
                pipe.multi()
                write(pipe)
                pipe.execute()
                return True
            except redis.WatchError:
                return False
