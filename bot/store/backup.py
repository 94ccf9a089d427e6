"""Backup and restore of a deployment's state (bot/backup.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.store.base import Area, _s

# Relative key prefixes a backup leaves out (see Backup.state_keys).
_NOT_BACKED_UP = ("lock:", "websess:", "login:", "dlv:token:")


class Backup(Area):
    """Backup and restore of a deployment's state (bot/backup.py)."""

    def state_keys(self) -> list[str]:
        """Every key of this deployment's state, relative to the prefix, sorted; without what
        belongs to a running process or a login (locks, office sessions, login counters,
        platform access tokens), which a restored store must not inherit."""
        head = self.keys.prefix + ":"
        out = []
        for raw in self.r.scan_iter(match=_glob_escape(head) + "*", count=1000):
            rel = _s(raw)[len(head) :]
            if not rel.startswith(_NOT_BACKED_UP):
                out.append(rel)
        return sorted(out)

    def dump(self, batch: int = 200) -> Iterable[tuple[str, int, bytes]]:
        """(relative key, milliseconds to live or -1, Redis DUMP payload) of every state key,
        read in pipelined batches; a key deleted meanwhile is left out."""
        head = self.keys.prefix + ":"
        names = self.state_keys()
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

    def restore(self, entries: Iterable[tuple[str, int, bytes]], replace: bool = False) -> int:
        """Write dumped keys under this store's prefix; returns how many. Refuses (StateError)
        a store that already holds state unless `replace`, which first deletes all of it."""
        head = self.keys.prefix + ":"
        existing = self.state_keys()
        if existing and not replace:
            raise StateError(len(existing))
        for i in range(0, len(existing), 500):
            self.r.delete(*(head + rel for rel in existing[i : i + 500]))
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


class StateError(Exception):
    """A restore into a store that already holds state (and was not asked to replace it)."""

    def __init__(self, count: int):
        super().__init__(f"the store already holds {count} keys")
        self.count = count


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
