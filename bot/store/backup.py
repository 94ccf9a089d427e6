"""Backup and restore of a deployment's state, or of one campaign's (bot/backup.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.store.base import Area, _s
from bot.store.keys import STATUS_LOG, Keys, place

# Key rests a backup leaves out (see Backup.state_keys); the status change log is derived from
# the history, and a restore deletes it (its readers then read the restored hash whole).
_NOT_BACKED_UP = ("lock:", "websess:", "login:", "dlv:token:", STATUS_LOG)
# Kept in a backup, but no sign that a store holds state (every start-up writes it).
_BOOKKEEPING = ("layout",)


class Backup(Area):
    """Backup and restore of a deployment's state (`campaign` None: every key under the prefix,
    each campaign's and the deployment's) or of one campaign's keys only, which leaves the other
    campaigns and the deployment's keys alone."""

    def _head(self, campaign: str | None) -> str:
        if campaign is None:
            return self.keys.prefix + ":"
        return Keys(self.keys.prefix, campaign).campaign_head

    def state_keys(self, campaign: str | None = None) -> list[str]:
        """Every key of the state, relative to the prefix (or to the campaign's head), sorted;
        without what belongs to a running process or a login (locks, office sessions, login
        counters, platform access tokens), which a restored store must not inherit."""
        head = self._head(campaign)
        out = []
        for raw in self.r.scan_iter(match=_glob_escape(head) + "*", count=1000):
            rel = _s(raw)[len(head) :]
            if not _rest(rel).startswith(_NOT_BACKED_UP):
                out.append(rel)
        return sorted(out)

    def holds_state(self, campaign: str | None = None) -> list[str]:
        """The keys that make a restore refuse (all but the layout marker)."""
        return [k for k in self.state_keys(campaign) if _rest(k) not in _BOOKKEEPING]

    def dump(
        self, batch: int = 200, campaign: str | None = None
    ) -> Iterable[tuple[str, int, bytes]]:
        """(relative key, milliseconds to live or -1, Redis DUMP payload) of every state key,
        read in pipelined batches; a key deleted meanwhile is left out."""
        head = self._head(campaign)
        names = self.state_keys(campaign)
        for i in range(0, len(names), batch):
            chunk = names[i : i + batch]
            pipe = self.r.pipeline(transaction=False)
            for rel in chunk:
                pipe.pttl(head + rel)
                pipe.dump(head + rel)
            res = pipe.execute()
            for j, rel in enumerate(chunk):
                ttl, payload = res[2 * j], res[2 * j + 1]
                if payload is not None:
                    yield rel, int(ttl), payload

    def restore(
        self,
        entries: Iterable[tuple[str, int, bytes]],
        replace: bool = False,
        campaign: str | None = None,
    ) -> int:
        """Write dumped keys under this store's prefix (or under `campaign`'s head); returns how
        many. Refuses (StateError) a store (a campaign) that already holds state unless
        `replace`, which first deletes all of it, and only it."""
        head = self._head(campaign)
        existing = self.state_keys(campaign)
        held = [k for k in existing if _rest(k) not in _BOOKKEEPING]
        if held and not replace:
            raise StateError(len(held))
        for i in range(0, len(existing), 500):
            self.r.delete(*(head + rel for rel in existing[i : i + 500]))
        for key in self.r.scan_iter(match=_glob_escape(head) + "*" + STATUS_LOG, count=1000):
            self.r.delete(key)
        count = 0
        pipe = self.r.pipeline(transaction=False)
        for rel, ttl, payload in entries:
            if ttl == -2:
                continue  # expired while it was being dumped
            pipe.restore(head + rel, max(ttl, 0), payload, replace=True)
            count += 1
            if count % 500 == 0:
                pipe.execute()
        pipe.execute()
        return count

    def relocate(self, rel: str, campaign: str | None = None) -> str:
        """A key name of a backup written before campaigns (relative to the prefix) in today's
        layout: into this store's campaign, or its place in the deployment (keys.py)."""
        if campaign is not None or rel.startswith("{"):
            return rel  # relative to a campaign's head, or in today's layout already
        if place(rel) == "campaign":
            return self.keys.campaign_head[len(self.keys.prefix) + 1 :] + rel
        return self.keys.deployment_head[len(self.keys.prefix) + 1 :] + rel


class StateError(Exception):
    """A restore into a store that already holds state (and was not asked to replace it)."""

    def __init__(self, count: int):
        super().__init__(f"the store already holds {count} keys")
        self.count = count


def _rest(rel: str) -> str:
    """A relative key without its hash tag: `{c}:dept:x` -> `dept:x`."""
    if rel.startswith("{"):
        end = rel.find("}:")
        if end >= 0:
            return rel[end + 2 :]
    return rel


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
