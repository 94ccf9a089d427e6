"""What /healthz asks of Redis: reachable, accepting writes, how long work has waited."""

from __future__ import annotations

import redis

from bot.store.base import Area


class Health(Area):
    """What /healthz asks of Redis: reachable, accepting writes, how long work has waited."""

    def ping(self) -> bool:
        return bool(self.r.ping())

    def waiting_ages(self, delivery_group: str) -> dict[str, float]:
        """Seconds the oldest waiting piece of work has waited, by Redis's clock (0: none):
        "inbox", a callback accepted and not answered yet; "outbox", a notice that no drainer
        has taken or finished; "pushes", a push whose lease ran out and that nobody resumed."""
        k = self.keys
        ages = self._script("waiting_ages")
        # two calls, one per cluster slot: the deployment's inbox and leases, this campaign's
        # outbox (an absent key reads as nothing waiting)
        inbox, _, pushes = ages(keys=[k.inbox, k.deployment_none, k.push_leases], args=[""])
        _, outbox, _ = ages(keys=[k.none, k.outbox, k.none], args=[delivery_group])
        res = (inbox, outbox, pushes)
        names = ("inbox", "outbox", "pushes")
        return {name: max(0, int(v)) / 1000 for name, v in zip(names, res, strict=True)}

    def writes_refused(self) -> str:
        """Why Redis refuses writes now, "" if it takes them: the last AOF write or RDB save
        failed (a full or broken disk under its data directory), so every write is answered
        MISCONF until it succeeds again. Only a failed RDB save with stop-writes-on-bgsave-error
        off leaves writes open."""
        info = self.r.info("persistence")
        if info.get("aof_enabled") and info.get("aof_last_write_status") == "err":
            return "aof"
        if info.get("rdb_last_bgsave_status") == "err":
            try:
                stop = self.r.config_get("stop-writes-on-bgsave-error")
            except redis.ResponseError:  # CONFIG renamed away (a managed Redis): the default
                stop = {}
            if stop.get("stop-writes-on-bgsave-error", "yes") == "yes":
                return "rdb"
        return ""
