"""The signed links of a department's fill-in page (/m/<token>), one per person and department.

A token is `<id>.<expiry>.<signature>`: a random id (the key of the link's record in the store),
the instant it expires (epoch seconds, base 36) and an HMAC-SHA256 of both under the server's
secret key. A changed character fails the signature before anything is read; a link past its
expiry is refused on its face; a link whose record is gone (解绑, or a newer link for the same
person) is revoked. Pure functions: the store keeps the records, the web checks the state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

ID_BYTES = 16  # 128 random bits: unguessable
SIG_BYTES = 16
RENEW_BEFORE = timedelta(days=1)  # 我的任务 sends a fresh link when the current one ends sooner
PATH = "/m/"


@dataclass(frozen=True)
class FillLink:
    """A link's record: who it was issued to, for which department, until when."""

    link_id: str
    platform: str
    user_id: str
    department: str
    name: str
    expires: int  # epoch seconds

    @property
    def actor(self) -> str:
        """The person as chat names them in the audit log and the undo stack."""
        return f"{self.platform}:{self.user_id}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def new_id() -> str:
    return _b64(secrets.token_bytes(ID_BYTES))


def expiry(now: datetime, days: int) -> int:
    return int((now + timedelta(days=days)).timestamp())


def _signature(key: str, body: str) -> str:
    mac = hmac.new(key.encode(), f"fill-link|{body}".encode(), hashlib.sha256).digest()
    return _b64(mac[:SIG_BYTES])


def token(key: str, link_id: str, expires: int) -> str:
    body = f"{link_id}.{_base36(expires)}"
    return f"{body}.{_signature(key, body)}"


def url(public_url: str, tok: str) -> str:
    return f"{public_url.rstrip('/')}{PATH}{tok}"


class Refused(Exception):
    """Why a link does not open: `kind` is tampered, expired or revoked."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def read(key: str, tok: str, now: datetime) -> tuple[str, int]:
    """(link id, expiry) of a well-signed, unexpired token; else Refused."""
    parts = tok.split(".")
    if len(parts) != 3 or not all(parts):
        raise Refused("tampered")
    link_id, exp36, sig = parts
    if not hmac.compare_digest(sig.encode(), _signature(key, f"{link_id}.{exp36}").encode()):
        raise Refused("tampered")
    try:
        expires = int(exp36, 36)
    except ValueError:
        raise Refused("tampered") from None
    if expires <= now.timestamp():
        raise Refused("expired")
    return link_id, expires


def reachable(public_url: str) -> bool:
    """Whether a phone can open links to `public_url`: anything but this machine's loopback
    address (the default of a demo or a test run)."""
    host = (urlsplit(public_url).hostname or "").lower()
    return bool(host) and host not in ("localhost", "::1") and not host.startswith("127.")


def issue(store, key: str, public_url: str, days: int, who, department: str) -> str:
    """A new link for `who` (platform, user_id, name) and `department`, revoking their last
    one; gives its URL."""
    platform, user_id, name = who
    now = store.clock()
    link = FillLink(new_id(), platform, user_id, department, name, expiry(now, days))
    store.fill_links.issue(link, days * 86400, f"有效至 {_day(link.expires)}")
    return url(public_url, token(key, link.link_id, link.expires))


def current_or_new(store, key: str, public_url: str, days: int, who, department: str) -> str:
    """The person's link while it lasts another day, else a new one (我的任务 does not revoke
    a page someone has open)."""
    platform, user_id, _ = who
    link = store.fill_links.current(platform, user_id)
    now = store.clock().timestamp()
    if link and link.department == department and link.expires - now > RENEW_BEFORE.total_seconds():
        return url(public_url, token(key, link.link_id, link.expires))
    return issue(store, key, public_url, days, who, department)


def _day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def for_sender(ctx, fresh: bool) -> str:
    """The sender's fill-in link for their department (ctx: bot.commands.Context): a new one,
    revoking the last, when `fresh`; else the current one while it lasts."""
    settings = ctx.services["settings"]
    who = (ctx.msg.platform, ctx.msg.user_id, ctx.binding.name or ctx.msg.user_name)
    make = issue if fresh else current_or_new
    return make(
        ctx.store, ctx.services["link_key"], settings.public_url, settings.fill_link_days, who,
        ctx.require_department(),
    )  # fmt: skip
