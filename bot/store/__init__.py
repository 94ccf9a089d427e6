"""The only package that speaks Redis. `RedisStore` is its composition root: one connection,
the key names (`Keys`) and a clock, from which it builds one object per area of state
(`store.assignments`, `store.bindings`, `store.audit`, ...; see README.md in this folder).

Every change of state is one Lua script (lua/) that checks the expected old value, writes the new
one, appends exactly one audit entry and any outgoing notices (the outbox) in the same atomic step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import redis

from bot.records import CLAIM_TTL_S
from bot.store.assignments import Assignments
from bot.store.audit import AuditLog
from bot.store.backup import Backup, StateError
from bot.store.base import Area, ReplicationError, iso, unavailable, utc_now
from bot.store.bindings import Bindings
from bot.store.comments import Comments
from bot.store.delivery import DeliveryState
from bot.store.exports import Exports
from bot.store.fill_links import FillLinks
from bot.store.health import Health
from bot.store.held_files import HeldFiles
from bot.store.inbox import Inbox
from bot.store.inspections import Inspections
from bot.store.keys import DEPLOYMENT_TAG, Keys
from bot.store.links import LinkChecks
from bot.store.logins import Logins
from bot.store.outbox import Outbox
from bot.store.reminders import Reminders
from bot.store.scheduler import SchedulerState
from bot.store.scripts import Scripts
from bot.store.submissions import Submissions

__all__ = [
    "DEFAULT_CAMPAIGN",
    "DEPLOYMENT_TAG",
    "Connection",
    "Keys",
    "RedisError",
    "RedisStore",
    "ReplicationError",
    "StateError",
    "iso",
    "unavailable",
    "utc_now",
]

# What the process entry points hold and catch, named here so that they need not import redis.
Connection = redis.Redis
RedisError = redis.RedisError

# The campaign of a store built without naming one (Settings.campaign's default).
DEFAULT_CAMPAIGN = "default"

# The scripts every callback runs: loaded at start-up (load_scripts).
_HOT_SCRIPTS = (
    "preload",
    "save_assignment",
    "finish",
    "accept",
    "set_binding",
    "set_field",
    "statuses_since",
    "push_end",  # queued as a plain EVALSHA on the inbox's read (Inbox._flush)
)


class RedisStore:
    """Duban's state in Redis, one attribute per area. `clock` is injectable so tests and jobs
    control 'now'."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "duban",
        clock: Callable[[], datetime] = utc_now,
        replicas: int = 0,
        claim_ttl_s: int = CLAIM_TTL_S,
        campaign: str | None = DEFAULT_CAMPAIGN,
        scripts: Scripts | None = None,
    ):
        self.r = client
        # the campaign whose keys this store reads and writes; the deployment's keys are the
        # same in every campaign's store (Keys). None: the layout before campaigns, which only
        # the migration reads (bot/migrate.py)
        self.campaign = campaign
        self.keys = Keys(prefix, campaign)
        self.clock = clock
        self.scripts = scripts or Scripts(client)  # shared by the stores of one connection
        common = {"scripts": self.scripts, "replicas": replicas, "claim_ttl_s": claim_ttl_s}
        args = (client, self.keys, clock)
        self.assignments = Assignments(*args, **common)
        self.bindings = Bindings(*args, **common)
        self.fill_links = FillLinks(*args, **common)
        self.comments = Comments(*args, **common)
        self.audit = AuditLog(*args, **common)
        self.outbox = Outbox(*args, **common)
        self.inbox = Inbox(*args, **common)
        self.delivery = DeliveryState(*args, **common)
        self.reminders = Reminders(*args, **common)
        self.links = LinkChecks(*args, **common)
        self.scheduler = SchedulerState(*args, **common)
        self.submissions = Submissions(*args, **common)
        self.exports = Exports(*args, **common)
        self.logins = Logins(*args, **common)
        self.health = Health(*args, **common)
        self.backup = Backup(*args, **common)
        self.inspections = Inspections(*args, **common)
        self.held_files = HeldFiles(*args, **common)

    def _areas(self) -> list[Area]:
        return [v for v in vars(self).values() if isinstance(v, Area)]

    @property
    def claim_ttl_s(self) -> int:
        """How long a callback's message id is claimed before its command commits."""
        return self.inbox.claim_ttl_s

    @claim_ttl_s.setter
    def claim_ttl_s(self, seconds: int) -> None:
        for area in self._areas():
            area.claim_ttl_s = seconds

    def now_iso(self) -> str:
        return iso(self.clock())

    def load_scripts(self) -> None:
        """Load the scripts every callback uses, so that no request pays a NOSCRIPT retry."""
        self.scripts.load(_HOT_SCRIPTS)
