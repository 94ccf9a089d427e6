"""Plain records that cross the store boundary: bindings, preloaded state, changes, audit entries.

Pure values, so the command core can build and read them without importing Redis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from bot.messages import Notice
from bot.progress import Assignment, TaskState

# A platform callback's message id: claimed for CLAIM_TTL_S, long enough to run any one command;
# the step that commits its effect (or stores its reply) keeps it for SEEN_TTL_S, longer than
# any platform redelivers. A claim whose command never committed thus frees itself.
CLAIM_TTL_S = 120
SEEN_TTL_S = 86400


class ConflictError(Exception):
    """The stored value changed between read and write; the caller re-reads and tries again."""


@dataclass(frozen=True)
class Binding:
    platform: str
    user_id: str
    department: str
    name: str = ""
    role: str = "member"  # member | liaison
    bound_at: str = ""
    # Not stored: someone without a binding writing in a department's own group (org.yaml
    # names the group) acts for that department.
    via_chat: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "department": self.department,
                "name": self.name,
                "role": self.role,
                "at": self.bound_at,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, platform: str, user_id: str, raw: str | bytes) -> Binding:
        d = json.loads(raw)
        return cls(
            platform,
            user_id,
            d["department"],
            d.get("name", ""),
            d.get("role", "member"),
            d.get("at", ""),
        )


@dataclass(frozen=True)
class AuditEntry:
    id: str
    at: str
    actor: str
    action: str
    department: str = ""
    indicator: int | None = None
    before: str = ""
    after: str = ""
    note: str = ""


@dataclass(frozen=True)
class Preload:
    """What one round trip reads before a command runs: the caller's binding and its state."""

    binding: Binding | None
    assignments: dict[int, Assignment] = field(default_factory=dict)
    raw: dict[int, str] = field(default_factory=dict)  # the exact stored JSON (for compare-and-set)
    undo_top: str | None = None
    star_overrides: dict[int, bool] = field(default_factory=dict)
    states: dict[int, TaskState] = field(default_factory=dict)  # scope "states" only
    duplicate: str | None = None  # the claimed message was seen before: its stored reply
    event_dates: dict[str, date] = field(default_factory=dict)  # set by the office
    first_in_chat: bool = False  # acting through the group's department for the first time


@dataclass(frozen=True)
class Begin:
    """The claim of a reply's first part (DeliveryState.push_begin: its marker, the robot's
    cooldown and a slot of its budget), taken by the script that stores the reply (Finish)
    instead of in a round trip of its own before the reply is posted (bot/inbox.py)."""

    keys: tuple[str, str, str]  # the part's marker, the robot's budget and cooldown
    token: str
    claim_ms: int
    limit: int
    window_ms: int
    ttl_s: int

    def args(self) -> list:
        return [self.token, self.claim_ms, self.limit, self.window_ms, self.ttl_s]


@dataclass(frozen=True)
class Finish:
    """The end of a platform callback, written in the same step as its last change: the reply
    kept for redeliveries of the message, and whether the outbox needs a drain; with `begin`,
    the claim of the reply's first part too."""

    platform: str
    message_id: str
    reply: str  # Reply JSON (bot.messages.Reply.to_json)
    drain_group: str = ""  # "" = no drain check
    debounce_ms: int = 0
    ttl: int = SEEN_TTL_S
    begin: Begin | None = None


@dataclass(frozen=True)
class Finished:
    """What a Finish came to: whether to queue a drain of the outbox, and the first part's
    claim (state, wait ms) as push_begin gives it; None when none was asked, or where it cannot
    ride along (a cluster: its keys are in other slots), and the part is claimed as any is."""

    drain: bool
    begun: tuple[str, int] | None = None


@dataclass(frozen=True)
class Change:
    """One assignment change to commit atomically with its audit entry and notices."""

    before_raw: str  # the stored JSON read earlier ("" = must not exist)
    after: Assignment
    actor: str
    action: str
    undo: str = "push"  # push | pop | keep
    undo_entry: str = ""  # JSON pushed onto the undo stack (push)
    reached_at: str = ""  # set when the completed set of the department changed
    notices: tuple[Notice, ...] = ()
    note: str = ""
    link_urls: tuple[str, ...] = ()  # URLs to queue for a background check
