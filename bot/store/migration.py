"""The one-off move of a store from the layout before campaigns (`<prefix>:<rest>`) to campaign
keys (`<prefix>:{<campaign>}:<rest>`) and deployment keys (`<prefix>:{_}:<rest>`), see keys.py.

Each key keeps its type, value and time to live: RENAMENX on one Redis; on a cluster, where the
new name lives in another slot, DUMP + RESTORE (with the key's remaining milliseconds) + DEL.
Key by key, so a run that dies half-way leaves every key either at its old name or at its new
one (on a cluster possibly at both, with the same value: the next run drops the old copy), and
running again finishes the job. A new name that already holds something else is never
overwritten: the key stays at its old name and is counted as a conflict.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from bot.store.keys import Keys, place

log = logging.getLogger(__name__)

LAYOUT = "2"  # Keys.layout once the store was moved to campaign keys
LOCK_MS = 10 * 60 * 1000


def is_cluster(client) -> bool:
    return isinstance(client, redis.RedisCluster)


@dataclass
class MigrationResult:
    moved: int = 0
    finished: int = 0  # an old copy left by a run that died between RESTORE and DEL
    conflicts: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"moved {self.moved}, finished {self.finished}, conflicts {len(self.conflicts)}"


class Migration:
    """Moves the old layout under `prefix` into `campaign` (the deployment's default one)."""

    def __init__(self, client, prefix: str, campaign: str):
        self.r = client
        self.prefix = prefix
        self.keys = Keys(prefix, campaign)
        self.cluster = is_cluster(client)

    def done(self) -> bool:
        return _text(self.r.get(self.keys.layout)) == LAYOUT

    def old_keys(self) -> list[bytes]:
        """Every key of the old layout: under `<prefix>:` and not behind a hash tag."""
        head = self.prefix.encode() + b":"
        found = self.r.scan_iter(match=_glob_escape(self.prefix) + ":*", count=1000)
        names = (k if isinstance(k, bytes) else k.encode() for k in found)
        return sorted(k for k in names if not k[len(head) :].startswith(b"{"))

    def target(self, old: bytes) -> bytes:
        rest = old[len(self.prefix) + 1 :]
        where = place(rest.decode("utf-8", errors="replace"))
        head = self.keys.campaign_head if where == "campaign" else self.keys.deployment_head
        return head.encode() + rest

    def run(self, after_each: Callable[[bytes, bytes], None] | None = None) -> MigrationResult:
        """Move every old key; `after_each(old, new)` is called once a key is at its new name."""
        result = MigrationResult()
        for old in self.old_keys():
            new = self.target(old)
            outcome = self._move(old, new)
            if outcome == "moved":
                result.moved += 1
            elif outcome == "finished":
                result.finished += 1
            elif outcome == "conflict":
                result.conflicts.append(_text(old))
                log.warning("migration: %s not moved, %s holds another value", _text(old), new)
            if outcome != "conflict" and after_each is not None:
                after_each(old, new)
        if not result.conflicts:
            self.r.set(self.keys.layout, LAYOUT)
        return result

    def _move(self, old: bytes, new: bytes) -> str:
        if not self.cluster:
            if self.r.renamenx(old, new):
                return "moved"
        elif not self.r.exists(new):
            pipe = self.r.pipeline(transaction=False)  # one slot: the old key's
            pipe.pttl(old)
            pipe.dump(old)
            ttl, payload = pipe.execute()
            if payload is None:
                return "gone"  # expired meanwhile
            self.r.restore(new, max(int(ttl), 0), payload)
            self.r.delete(old)
            return "moved"
        # the new name holds something: the same value is a move that died before its DEL
        here = self.r.dump(old)
        if here is None:
            return "gone"
        if here == self.r.dump(new) or _content(self.r, old) == _content(self.r, new):
            self.r.delete(old)
            return "finished"
        return "conflict"

    def ensure(self, wait_s: float = 600.0) -> MigrationResult | None:
        """Run the migration once per store, under a lock that processes starting together
        share; None when it had run before (one GET). Waits for another process's run."""
        if self.done():
            return None
        lock, token = self.keys.lock("migrate"), secrets.token_hex(8)
        deadline = time.monotonic() + wait_s
        while not self.r.set(lock, token, nx=True, px=LOCK_MS):
            if self.done():
                return None
            if time.monotonic() > deadline:
                raise TimeoutError("another process holds the migration lock")
            time.sleep(0.1)
        try:
            if self.done():
                return None
            started = time.monotonic()
            result = self.run()
            log.info(
                "migration to campaign keys (campaign %s): %s in %.1f s",
                self.keys.campaign,
                result,
                time.monotonic() - started,
            )
            return result
        finally:
            if _text(self.r.get(lock)) == token:
                self.r.delete(lock)


def _content(r, key: bytes) -> tuple:
    """A key's type and value as read back (a large hash or set DUMPs its members in the order
    of its table, which a RESTORE may change)."""
    kind = _text(r.type(key))
    if kind == "string":
        value: object = r.get(key)
    elif kind == "hash":
        value = r.hgetall(key)
    elif kind == "list":
        value = r.lrange(key, 0, -1)
    elif kind == "set":
        value = r.smembers(key)
    elif kind == "zset":
        value = r.zrange(key, 0, -1, withscores=True)
    elif kind == "stream":
        groups = [(g["name"], g["last-delivered-id"]) for g in r.xinfo_groups(key)]
        value = (r.xrange(key), groups)
    else:
        value = None
    return kind, value


def _text(v) -> str:
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else (v or "")


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
