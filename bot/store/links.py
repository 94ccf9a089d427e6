"""Link checks: the state of each checked URL, the queue of new ones and the re-check plan."""

from __future__ import annotations

from collections.abc import Iterable

from bot.store.base import Area, _s


class LinkChecks(Area):
    """Link checks: the state of each checked URL, the queue of new ones and the re-check plan."""

    def states(self, urls: Iterable[str]) -> dict[str, dict]:
        urls = list(dict.fromkeys(urls))
        pipe = self.r.pipeline(transaction=False)
        for u in urls:
            pipe.hgetall(self.keys.link(u))
        return {u: _link_state(h) for u, h in zip(urls, pipe.execute(), strict=True) if h}

    def record(self, url: str, state: dict, next_check: float | None = None) -> None:
        """Record a link check (ok, status, title, error, checked_at, fails), drop it from the
        queue of new links and, with `next_check` (epoch seconds), plan its next check."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(
            self.keys.link(url),
            mapping={
                k: ("1" if v is True else "0" if v is False else str(v)) for k, v in state.items()
            },
        )
        pipe.srem(self.keys.link_queue, url)
        if next_check is not None:
            pipe.zadd(self.keys.link_recheck, {url: next_check})
        pipe.execute()

    def queued(self, count: int = 100) -> list[str]:
        """New links, never checked yet."""
        return [_s(u) for u in self.r.srandmember(self.keys.link_queue, count)]

    def due(self, now: float, count: int) -> list[str]:
        """Checked links whose next check is due at `now` (epoch seconds), most overdue first."""
        return [_s(u) for u in self.r.zrangebyscore(self.keys.link_recheck, "-inf", now, 0, count)]

    def forget(self, urls: Iterable[str]) -> None:
        """No more checks for these (no material uses them any longer), new or planned."""
        urls = list(urls)
        if urls:
            pipe = self.r.pipeline(transaction=True)
            pipe.srem(self.keys.link_queue, *urls).zrem(self.keys.link_recheck, *urls)
            pipe.execute()

    def plan(self, url: str, at: float) -> None:
        """Take a link off the queue of new ones and plan its check at `at` (epoch seconds):
        done just before fetching it, so a run that dies on it meets it again only then."""
        pipe = self.r.pipeline(transaction=True)
        pipe.srem(self.keys.link_queue, url).zadd(self.keys.link_recheck, {url: at})
        pipe.execute()

    def dead(self, urls: Iterable[str]) -> set[str]:
        """The URLs among `urls` whose last check failed: what the cockpit counts on every view
        of the overview, in one script call instead of one HGETALL per link."""
        urls = list(dict.fromkeys(urls))
        if not urls:
            return set()
        found = self._script("dead_links")(keys=[self.keys.link(u) for u in urls])
        return {urls[int(i) - 1] for i in found}


def _link_state(h: dict) -> dict:
    d = {_s(k): _s(v) for k, v in h.items()}
    return {
        "ok": d.get("ok") == "1",
        "status": int(d["status"]) if d.get("status", "").isdigit() else None,
        "title": d.get("title", ""),
        "error": d.get("error", ""),
        "checked_at": d.get("checked_at", ""),
        "fails": int(d["fails"]) if d.get("fails", "").isdigit() else 0,
    }
