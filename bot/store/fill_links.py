"""The fill-in page links (bot/filllinks.py): one per person, revoked by any binding change."""

from __future__ import annotations

from bot.filllinks import FillLink
from bot.store.base import Area, _s


class FillLinks(Area):
    """The fill-in page links (bot/filllinks.py): one per person, revoked by any binding change."""

    def issue(self, link: FillLink, ttl_s: int, note: str) -> None:
        """Keep `link` as its person's one fill-in link (the one before is revoked), audited."""
        k = self.keys
        self._script("issue_fill_link")(
            keys=[k.fill_link_of(link.actor), k.fill_link_prefix, k.audit],
            args=[
                link.link_id, link.platform, link.user_id, link.department, link.name,
                link.expires, ttl_s, self.now_iso(), link.actor, note,
            ],
        )  # fmt: skip

    def get(self, link_id: str) -> FillLink | None:
        """The record of a link not revoked (by 解绑 or a newer link), else None."""
        raw = self.r.hgetall(self.keys.fill_link(link_id))
        if not raw:
            return None
        f = {_s(a): _s(b) for a, b in raw.items()}
        return FillLink(
            link_id, f["platform"], f["user"], f["department"], f["name"], int(f["expires"])
        )

    def current(self, platform: str, user_id: str) -> FillLink | None:
        link_id = _s(self.r.get(self.keys.fill_link_of(f"{platform}:{user_id}")))
        return self.get(link_id) if link_id else None

    def claim_signin(self, nonce: str, ttl_s: int) -> bool:
        """Mark a platform sign-in's state used (bot/signin.py): True the first time only, so
        a callback replayed within the state's life issues nothing."""
        return bool(self.r.set(self.keys.signin_state(nonce), "1", nx=True, ex=ttl_s))

    def audit_use(self, link: FillLink | None, action: str, note: str) -> None:
        """One use of a fill-in link (opened, or refused): who, for which department, what."""
        self._add_audit(
            self.r,
            at=self.now_iso(),
            actor=link.actor if link else "",
            action=action,
            department=link.department if link else "",
            note=note,
        )
