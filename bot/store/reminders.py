"""The office's 催办 cool-down per department."""

from __future__ import annotations

from collections.abc import Iterable

from bot.store.base import Area, _s


class Reminders(Area):
    """The office's 催办 cool-down per department."""

    def claim(self, departments: Iterable[str], at: str, rest_s: int) -> list[str]:
        """Start the cool-down of each department not already resting; the ones claimed. The
        rest is measured on the store's clock (the demo's and the tests' too); one script per
        department: two offices pressing at once push each department once (one script for all)."""
        depts = list(departments)
        if rest_s <= 0:
            return depts
        now_ms = int(self.clock().timestamp() * 1000)
        if not depts:
            return []
        keys = [self.keys.remind_cooldown(d) for d in depts]  # one campaign: one slot
        res = self._script("claim_rest")(
            keys=keys, args=[now_ms, now_ms + rest_s * 1000, at, rest_s]
        )
        return [d for d, ok in zip(depts, res, strict=True) if ok]

    def release(self, departments: Iterable[str], at: str) -> None:
        """Undo claim when the push could not be queued (only our own claims)."""
        release = self._script("release_rest")
        for d in departments:
            release(keys=[self.keys.remind_cooldown(d)], args=[at])

    def cooldowns(self, departments: Iterable[str]) -> dict[str, tuple[str, int]]:
        """department -> (when it was last reminded, seconds of rest left) for those resting."""
        depts = list(departments)
        vals = self.r.mget([self.keys.remind_cooldown(d) for d in depts]) if depts else []
        now_ms = int(self.clock().timestamp() * 1000)
        out = {}
        for d, v in zip(depts, vals, strict=True):
            until, _, at = _s(v).partition("|")
            if until.isdigit() and int(until) > now_ms:
                out[d] = (at, -(-(int(until) - now_ms) // 1000))
        return out
