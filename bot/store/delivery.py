"""Outbound delivery: part markers, push leases, robot budgets and cool-downs, dead letters and
the platforms' access-token cache."""

from __future__ import annotations

import json
from collections.abc import Iterable

from bot.store.base import Area, _s


class DeliveryState(Area):
    """Outbound delivery: part markers, push leases, robot budgets and cool-downs, dead letters and
    the platforms' access-token cache."""

    def push_begin(
        self,
        push_id: str,
        part: int,
        robot: str,
        token: str,
        claim_ms: int,
        limit: int,
        window_ms: int,
        ttl_s: int,
    ) -> tuple[str, int]:
        """One atomic step before posting one part: its marker, the robot's cooldown and budget.

        Returns (state, wait ms): "sent" / "uncertain_known" (skip), "uncertain" (a claim whose
        deadline passed: its worker died while posting; now marked uncertain), "busy" (another
        worker is posting it), "cooldown", "budget" (no slot: wait), or "go" (a budget slot is
        taken and the part is claimed for `token` until now + claim_ms).
        """
        keys = self.begin_keys(push_id, part, robot)
        res = self._script("push_begin")(keys=keys, args=[token, claim_ms, limit, window_ms, ttl_s])
        return _s(res[0]), int(res[1])

    def begin_keys(self, push_id: str, part: int, robot: str) -> tuple[str, str, str]:
        """push_begin's keys: the part's marker, the robot's budget and cooldown (Begin)."""
        k = self.keys
        return k.part_marker(push_id, part), k.budget(robot), k.cooldown(robot)

    def push_end(self, push_id: str, part: int, token: str, outcome: str, ttl_s: int) -> bool:
        """After posting a claimed part: mark it "sent" or "uncertain" (posted, no answer), or
        "release" `token`'s claim after a definite failure."""
        key = self.keys.part_marker(push_id, part)
        return bool(self._script("push_end")(keys=[key], args=[token, outcome, ttl_s]))

    def part_states(self, push_id: str, parts: Iterable[int]) -> list[str]:
        parts = list(parts)
        if not parts:
            return []
        return [_s(v) for v in self.r.mget([self.keys.part_marker(push_id, p) for p in parts])]

    def reset_parts(self, push_id: str, parts: Iterable[int]) -> int:
        """Forget the markers of these parts unless they are "sent" (an office retry)."""
        keys = [self.keys.part_marker(push_id, p) for p in parts]
        return int(self._script("reset_parts")(keys=keys, args=[])) if keys else 0

    def start_cooldown(self, robot: str, ms: int) -> None:
        self.r.set(self.keys.cooldown(robot), "1", px=max(1, ms))

    def lease(self, push_id: str, spec: str, until_s: float) -> None:
        """Record an unfinished push (its job kwargs) due to finish by `until_s`."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.keys.push_specs, push_id, spec)
        pipe.zadd(self.keys.push_leases, {push_id: until_s})
        pipe.execute()

    def extend_lease(self, push_id: str, until_s: float) -> None:
        self.r.zadd(self.keys.push_leases, {push_id: until_s}, xx=True)

    def release(self, push_id: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(self.keys.push_leases, push_id)
        pipe.hdel(self.keys.push_specs, push_id)
        pipe.execute()

    def claim_expired(
        self, now_s: float, lease_s: float, count: int = 100
    ) -> list[tuple[str, str]]:
        """(push id, spec) of pushes whose lease ran out, each leased again for `lease_s`
        in the same step, so two sweepers never both take one."""
        k = self.keys
        res = self._script("claim_expired")(
            keys=[k.push_leases, k.push_specs], args=[now_s, now_s + lease_s, count]
        )
        return [(_s(res[i]), _s(res[i + 1])) for i in range(0, len(res), 2)]

    def cached_token(self, name: str) -> str:
        return _s(self.r.get(self.keys.token_cache(name)))

    def cache_token(self, name: str, value: str, ttl_s: int) -> None:
        self.r.set(self.keys.token_cache(name), value, ex=max(1, ttl_s))

    def drop_token(self, name: str, value: str) -> None:
        """Forget a cached token the platform refused, unless another worker replaced it."""
        self._script("release_lock")(keys=[self.keys.token_cache(name)], args=[value])

    def add_dead_letter(self, dead_id: str, record: dict) -> None:
        self.r.hset(self.keys.dead_letters, dead_id, json.dumps(record, ensure_ascii=False))

    def dead_letters(self) -> list[dict]:
        """Every dead letter, newest first."""
        rows = [json.loads(_s(v)) for v in self.r.hvals(self.keys.dead_letters)]
        return sorted(rows, key=lambda d: d.get("at", ""), reverse=True)

    def take_dead_letter(self, dead_id: str) -> dict | None:
        """Remove and return one dead letter; None if it is gone (another retry took it)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hget(self.keys.dead_letters, dead_id)
        pipe.hdel(self.keys.dead_letters, dead_id)
        raw, removed = pipe.execute()
        return json.loads(_s(raw)) if removed and raw else None

    def has_lease(self, push_id: str) -> bool:
        """Whether a push is still unfinished (its lease was not released)."""
        return self.r.zscore(self.keys.push_leases, push_id) is not None

    def lease_many(self, specs: dict[str, str], until_s: float) -> None:
        """lease for many pushes in one round trip (one MULTI): each push id's spec and
        its deadline `until_s`."""
        if not specs:
            return
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.keys.push_specs, mapping=specs)
        pipe.zadd(self.keys.push_leases, dict.fromkeys(specs, until_s))
        pipe.execute()

    def extend_leases(self, push_ids: Iterable[str], until_s: float) -> None:
        """extend_lease for many pushes in one round trip: a finished (released) push is not
        leased again, and a later deadline (a push job's, after a delay) is not shortened."""
        ids = list(push_ids)
        if ids:
            self.r.zadd(self.keys.push_leases, dict.fromkeys(ids, until_s), xx=True, gt=True)
