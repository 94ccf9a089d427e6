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


def base36(n: int) -> str:
    """`n` in lower-case base 36 (expiry times in signed links and states)."""
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
    body = f"{link_id}.{base36(expires)}"
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
    settings = ctx.services.settings
    who = (ctx.msg.platform, ctx.msg.user_id, ctx.binding.name or ctx.msg.user_name)
    make = issue if fresh else current_or_new
    return make(
        ctx.store, ctx.services.link_key, settings.public_url, settings.fill_link_days, who,
        ctx.require_department(),
    )  # fmt: skip


# --- the door: the page link a group sees ------------------------------------------------------
# A signed link is one person's key to the department's page, and a push lands in a group: so
# what a group message carries is the department's *door*, a link that opens a page naming the
# department and saying how to get one's own link (send 填报 in a one-to-one chat with the bot).
# It shows no item and takes no write; the signature only keeps anyone from minting pages that
# name a department of their choosing. One-to-one replies carry the person's own link instead.

DOOR_PATH = "/m/d/"
_DOOR_SIG_BYTES = 12


def _door_signature(key: str, department: str) -> str:
    mac = hmac.new(key.encode(), f"fill-door|{department}".encode(), hashlib.sha256).digest()
    return _b64(mac[:_DOOR_SIG_BYTES])


def door_token(key: str, department: str) -> str:
    return f"{_b64(department.encode())}.{_door_signature(key, department)}"


def read_door(key: str, tok: str) -> str:
    """The department a door token names; Refused("tampered") when it is not ours."""
    name, _, sig = tok.partition(".")
    try:
        department = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise Refused("tampered") from None
    if not department or not hmac.compare_digest(
        sig.encode(), _door_signature(key, department).encode()
    ):
        raise Refused("tampered")
    return department


def door_url(public_url: str, key: str, department: str, item: int | None = None) -> str:
    tail = f"?n={item}" if item else ""
    return f"{public_url.rstrip('/')}{DOOR_PATH}{door_token(key, department)}{tail}"


def item_url(page_url: str, item: int) -> str:
    """The page of one item from a person's page link (/m/<token>/<n>), or a door's."""
    if DOOR_PATH in page_url:
        return f"{page_url.split('?')[0]}?n={item}"
    return f"{page_url.rstrip('/')}/{item}"


# WeCom's jump_list holds 3 (https://developer.work.weixin.qq.com/document/path/91770)
MAX_BUTTONS = 3


def buttons(page_url: str, items=()) -> list[tuple[str, str]]:
    """The buttons of a card about a department's items: 打开填报页, then 查看第N项 for the
    first few `items` (a card holds at most MAX_BUTTONS)."""
    if not page_url:
        return []
    out = [("打开填报页", page_url)]
    for n in list(dict.fromkeys(items))[: MAX_BUTTONS - 1]:
        out.append((f"查看第{n}项", item_url(page_url, n)))
    return out


def door_for(services, department: str, items=()) -> list[tuple[str, str]]:
    """The buttons of a group message about `department` (services: the runtime's
    bot.commands.Services); none where phones cannot reach the server (`reachable`)."""
    settings = services.settings
    key = services.link_key
    if settings is None or not key or not reachable(settings.public_url):
        return []
    return buttons(door_url(settings.public_url, key, department), items)
