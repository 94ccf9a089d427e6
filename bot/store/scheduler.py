"""The scheduler's lock and slots, the fake clocks' anchors and the demo's shift."""

from __future__ import annotations

from bot.store.base import Area, _s


class SchedulerState(Area):
    """The scheduler's lock and slots, the fake clocks' anchors and the demo's shift."""

    def hold_lock(self, name: str, token: str, ttl_ms: int) -> bool:
        """Take the lock `name` for `token`, or extend it if `token` holds it; False otherwise."""
        return bool(self._script("hold_lock")(keys=[self.keys.lock(name)], args=[token, ttl_ms]))

    def release_lock(self, name: str, token: str) -> bool:
        """Drop the lock only if `token` still holds it."""
        return bool(self._script("release_lock")(keys=[self.keys.lock(name)], args=[token]))

    def slot_states(self, name: str, slots: list[str]) -> dict[str, str]:
        """One round trip: each slot's marker ("done:<job id>", "claimed:<token>" or "")."""
        if not slots:
            return {}
        vals = self.r.mget([self.keys.schedule(f"{name}:{s}") for s in slots])
        return {s: _s(v) for s, v in zip(slots, vals, strict=True)}

    def claim_slot(self, name: str, slot: str, token: str, ttl_s: int = 120) -> bool:
        """SET NX: only one scheduler runs a slot. The claim expires unless finished, so a
        scheduler that died between claiming and enqueueing leaves the slot to be caught up."""
        key = self.keys.schedule(f"{name}:{slot}")
        return bool(self.r.set(key, f"claimed:{token}", nx=True, ex=ttl_s))

    def finish_slot(self, name: str, slot: str, job_id: str, ttl_s: int = 3 * 86400) -> None:
        self.r.set(self.keys.schedule(f"{name}:{slot}"), f"done:{job_id}", ex=ttl_s)

    def clock_anchor(self, name: str, now_ts: float) -> float:
        """The real instant (epoch seconds) at which the fake clock `name` started: the first
        process to ask sets it, every later one reads it, so all read the same time."""
        key = self.keys.clock_anchor(name)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(key, repr(now_ts), nx=True).get(key)
        return float(_s(pipe.execute()[1]))

    def demo_shift(self, days: int, ttl_s: int = 7 * 86400) -> int:
        """The days the demo campaign is moved by: the first process of the week decides."""
        key = self.keys.demo_shift
        pipe = self.r.pipeline(transaction=True)
        pipe.set(key, str(days), nx=True, ex=ttl_s).get(key)
        return int(_s(pipe.execute()[1]))
