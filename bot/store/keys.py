"""Every Redis key name of Duban (the layout is pinned by tests/store/test_layout.py).

Two places, one rule: a key that a Lua script writes together with a campaign's state is a
campaign key, in that campaign's Redis Cluster slot: `<prefix>:{<campaign>}:<rest>`. Everything
else belongs to the deployment and is shared by its campaigns: `<prefix>:{_}:<rest>`, one slot of
its own (the deployment's scripts, e.g. a push's marker with its robot's budget and cool-down,
also touch several keys; `_` is no campaign id). So every script touches one slot.

Campaign keys: assignments (dept, status, dstat, undo, reached, origin), stars and event dates,
bindings with their requests, folds, chat-member marks and fill-in links (a binding change writes
its notice and revokes the person's link in one step), comments, submissions, exports, the audit
log, the outbox with its sent-markers, rankings and drain flag, a command's callback claim
(`seen`, committed with the command's change), link checks, 催办 rests, inspection marks, and
the files held for their senders (a download's end writes the hold and its notice together).
Deployment keys: the inbox stream, its consumers and its accept claims (`seen:<platform>-in`),
delivery (part markers, leases, specs, budgets, cool-downs, dead letters, token cache), locks,
scheduler slots, web logins and sessions, the clock anchors and the demo's shift, and the layout
marker of the migration (bot/migrate.py).

`Keys(prefix)` without a campaign is the layout before campaigns, every key `<prefix>:<rest>`:
only the migration reads it (`place` says where each of those keys goes).
"""

from __future__ import annotations

# The hash tag of the deployment's own keys; campaign ids are [a-z0-9][a-z0-9-]{0,39}.
DEPLOYMENT_TAG = "_"
# The rest of the key a script is handed for "no key" (a command without a callback): it is in
# the script's slot, never written, and the scripts know it by its last byte (`given` in
# lua/shared.lua). An empty name would hash to slot 0 and break the script on a cluster.
NONE = "\x00"

# The first part of a key's rest, for the deployment's keys (everything else is a campaign's).
_DEPLOYMENT_HEADS = frozenset(
    {"clock", "demo", "inbox", "lock", "budget", "cool", "dead", "sched", "login", "websess",
     "layout", "signin-used", "campaign"}
)  # fmt: skip
_DEPLOYMENT_DLV = frozenset({"part", "lease", "spec", "token"})


# The status hash's change log: what a reader applies to the statuses it read before
# (Assignments.statuses). Derived from the history, never backed up; a restore deletes it.
STATUS_LOG = "statuslog"


def place(rest: str) -> str:
    """ "campaign" or "deployment": where a key of the old layout (its name after `<prefix>:`)
    belongs. Keys below says the same per key (tests/store/test_layout.py checks both agree)."""
    parts = rest.split(":")
    head = parts[0]
    if head in _DEPLOYMENT_HEADS:
        return "deployment"
    if head == "dlv" and len(parts) > 1 and parts[1] in _DEPLOYMENT_DLV:
        return "deployment"
    if head == "seen" and len(parts) > 1 and parts[1].endswith("-in"):
        return "deployment"  # Inbox.accept's claim, written with the inbox stream
    return "campaign"


class Keys:
    """Every Redis key of Duban: a campaign's (`_c`) and the deployment's (`_d`)."""

    def __init__(self, prefix: str = "duban", campaign: str | None = None):
        self.prefix = prefix
        self.campaign = campaign
        if campaign is None:  # the layout before campaigns (the migration's reader)
            self._campaign_head = self._deployment_head = [prefix]
        else:  # the campaign as a Redis Cluster hash tag: one campaign, one slot
            self._campaign_head = [prefix, "{" + campaign + "}"]
            self._deployment_head = [prefix, "{" + DEPLOYMENT_TAG + "}"]

    def _c(self, *parts: object) -> str:
        """A key of this campaign."""
        return ":".join([*self._campaign_head, *(str(p) for p in parts)])

    def _d(self, *parts: object) -> str:
        """A key of the deployment, shared by its campaigns."""
        return ":".join([*self._deployment_head, *(str(p) for p in parts)])

    @property
    def campaign_head(self) -> str:
        """What every key of this campaign starts with (`<prefix>:{<campaign>}:`)."""
        return self._c("")

    @property
    def deployment_head(self) -> str:
        """What every key of the deployment starts with (`<prefix>:{_}:`)."""
        return self._d("")

    @property
    def none(self) -> str:
        """The "no key" a script is handed in this campaign's slot (see NONE)."""
        return self._c(NONE)

    @property
    def deployment_none(self) -> str:
        """The "no key" in the deployment's slot."""
        return self._d(NONE)

    @property
    def layout(self) -> str:  # "2" once the migration to campaign keys ran (bot/migrate.py)
        return self._d("layout")

    @property
    def bindings(self) -> str:  # hash "platform:user" -> binding JSON
        return self._c("bind")

    def dept(self, department: str) -> str:  # hash indicator id -> assignment JSON
        return self._c("dept", department)

    @property
    def dept_prefix(self) -> str:
        return self._c("dept", "")

    @property
    def statuses(self) -> str:  # hash "ind|dept" -> "role:status"
        return self._c("status")

    @property
    def status_log(self) -> str:  # stream of the status hash's changes: f "ind|dept", v its value
        return self._c(STATUS_LOG)

    def dept_states(self, department: str) -> str:  # hash indicator id -> "role:status"
        return self._c("dstat", department)

    @property
    def dept_states_prefix(self) -> str:
        return self._c("dstat", "")

    @property
    def origin(self) -> str:  # "demo" | "live": how this store began (Assignments.record_origin)
        return self._c("origin")

    @property
    def reached(self) -> str:  # hash dept -> ISO time its completed set last changed
        return self._c("reached")

    def undo(self, department: str, indicator_id: int) -> str:  # list of previous states
        return self._c("undo", department, indicator_id)

    @property
    def undo_prefix(self) -> str:
        return self._c("undo", "")

    def binding_fold(self, person: str) -> str:  # hash: a person's binding changes being folded
        return self._c("bindfold", person)

    @property
    def binding_folds(self) -> str:  # sorted set person -> epoch ms their fold is due
        return self._c("bindfolds")

    def campaign_choice(self, platform: str, user_id: str) -> str:  # the campaign 切换 chose
        return self._d("campaign", platform, user_id)

    def comments(self, indicator_id: int, department: str) -> str:  # list of comment JSON
        return self._c("comments", indicator_id, department)

    @property
    def bind_requests(self) -> str:  # hash "platform:user" -> requested binding JSON
        return self._c("bindreq")

    @property
    def stars(self) -> str:  # hash ind -> "1" | "0" (overrides the catalogue's ★)
        return self._c("stars")

    @property
    def event_dates(self) -> str:  # hash event key -> YYYY-MM-DD set by the office
        return self._c("events")

    def chat_member(self, department: str, platform: str, user_id: str) -> str:
        # set once someone was told they act for the department of the group they write in
        return self._c("chatmember", department, platform, user_id)

    def clock_anchor(self, name: str) -> str:  # the real instant a fake clock started at
        return self._d("clock", name)

    @property
    def demo_shift(self) -> str:  # days the demo campaign is moved by (see bot.runtime)
        return self._d("demo", "shift")

    @property
    def audit(self) -> str:  # stream
        return self._c("audit")

    @property
    def outbox(self) -> str:  # stream of notices waiting to be pushed
        return self._c("outbox")

    @property
    def last_ranking(self) -> str:  # hash dept -> rank at the last ranking push
        return self._c("rank", "last")

    def seen(self, platform: str, message_id: str) -> str:  # a command's callback claim
        return self._c("seen", platform, message_id)

    def accepted(self, platform: str, message_id: str) -> str:  # Inbox.accept's claim
        return self._d("seen", f"{platform}-in", message_id)

    @property
    def inbox(self) -> str:  # stream of callbacks acknowledged at once, answered by a worker
        return self._d("inbox")

    def inbox_consumer(self, name: str) -> str:  # set while that inbox consumer is alive
        return self._d("inbox", "alive", name)

    def lock(self, name: str) -> str:
        return self._d("lock", name)

    def marker(self, name: str) -> str:
        return self._c("mark", name)

    def submissions(self, department: str) -> str:  # list of submission JSON, newest last
        return self._c("sub", department)

    def budget(self, robot: str) -> str:
        return self._d("budget", robot)

    def cooldown(self, robot: str) -> str:
        return self._d("cool", robot)

    @property
    def dead_letters(self) -> str:
        return self._d("dead")

    def link(self, url: str) -> str:  # hash: status, title, ok, checked_at
        return self._c("link", url)

    @property
    def link_queue(self) -> str:  # set of URLs waiting for a check
        return self._c("linkq")

    @property
    def link_recheck(self) -> str:  # sorted set URL -> epoch seconds of its next check
        return self._c("linkre")

    def schedule(self, name: str) -> str:
        return self._d("sched", name)

    def login(self, name: str) -> str:  # counters and waits of the office's login
        return self._d("login", name)

    def web_session(self, digest: str) -> str:  # an office login: its credential fingerprint
        return self._d("websess", digest)

    def submission_seq(self, department: str) -> str:  # counter: the last submission version
        return self._c("subseq", department)

    @property
    def submitted(self) -> str:  # hash dept -> JSON {version, at} of its latest submission
        return self._c("submitted")

    def submission_files(self, department: str) -> str:  # hash version -> JSON files and mail
        return self._c("subfiles", department)

    def export(self, token: str) -> str:  # hash: name, department, kind, size, at, data
        return self._c("export", token)

    @property
    def exports(self) -> str:  # sorted set token -> created (epoch ms)
        return self._c("exports")

    # outbound delivery (bot/delivery.py)

    def part_marker(self, push_id: str, part: int) -> str:  # sending:<tok>:<ms>|sent|uncertain
        return self._d("dlv", "part", push_id, part)

    @property
    def push_leases(self) -> str:  # sorted set push id -> lease deadline (epoch s)
        return self._d("dlv", "lease")

    @property
    def push_specs(self) -> str:  # hash push id -> job kwargs JSON of an unfinished push
        return self._d("dlv", "spec")

    @property
    def drain_pending(self) -> str:  # set while a drain of the outbox is queued
        return self._c("dlv", "drain")

    def remind_cooldown(self, department: str) -> str:  # the office's last 催办 (ISO), with TTL
        return self._c("remind-cooldown", department)

    def token_cache(self, name: str) -> str:  # an access token, expiring before the platform's
        return self._d("dlv", "token", name)

    def fill_link(self, link_id: str) -> str:  # hash: a fill-in page link's record (filllinks)
        return self._c("fill", link_id)

    @property
    def fill_link_prefix(self) -> str:
        return self._c("fill", "")

    def fill_link_of(self, person: str) -> str:  # the id of a person's current fill-in link
        return self._c("fill-of", person)

    def signin_state(self, nonce: str) -> str:  # a platform sign-in's state, once used (TTL)
        return self._d("signin-used", nonce)

    def inspection(self, department: str) -> str:  # hash indicator id -> inspection mark JSON
        return self._c("inspect", department)

    def held_file(self, platform: str, user_id: str) -> str:  # JSON of a file held, with TTL
        return self._c("held-file", platform, user_id)
