"""The office's web logins: sessions and the attempt counters that slow down guessing."""

from __future__ import annotations

import hashlib

from bot.store.base import Area, _s


class Logins(Area):
    """The office's web logins: sessions and the attempt counters that slow down guessing."""

    def open_session(self, session_id: str, fingerprint: str, ttl_s: int) -> None:
        """Record a login; the cookie carries `session_id`, the store only its hash."""
        self.r.set(self.keys.web_session(_digest(session_id)), fingerprint, ex=ttl_s)

    def session_fingerprint(self, session_id: str) -> str:
        """The credential fingerprint a live login was made with; "" once it ended."""
        return _s(self.r.get(self.keys.web_session(_digest(session_id))))

    def close_session(self, session_id: str) -> None:
        self.r.delete(self.keys.web_session(_digest(session_id)))

    def reserve(
        self, address: str, limit: int, window_s: int, free: int, base_ms: int, max_ms: int
    ) -> tuple[str, int]:
        """One atomic step before a password is checked: ("go", 0) counts the attempt as a
        failure of `address` and of the account (a success clears both, succeeded), or
        ("address" | "account", wait ms) refuses it unchecked. An address gets `limit` attempts
        per `window_s`; the account, attempts from any address, `free` ones, and after that
        each one makes the next wait twice as long, from `base_ms` up to `max_ms`."""
        k = self.keys
        res = self._script("reserve_login")(
            keys=[k.login(f"addr:{address}"), k.login("account"), k.login("account-wait")],
            args=[limit, window_s * 1000, free, base_ms, max_ms],
        )
        return _s(res[0]), int(res[1])

    def succeeded(self, address: str) -> None:
        k = self.keys
        self.r.delete(k.login(f"addr:{address}"), k.login("account"), k.login("account-wait"))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:32]
