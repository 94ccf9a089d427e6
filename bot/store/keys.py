"""Every Redis key name of Duban, under one configurable prefix (the layout is pinned by
tests/store/test_layout.py)."""

from __future__ import annotations


class Keys:
    """Every Redis key of Duban, under one configurable prefix."""

    def __init__(self, prefix: str = "duban", campaign: str | None = None):
        self.prefix = prefix
        self.campaign = campaign
        # a campaign's keys carry it as a Redis Cluster hash tag: one campaign, one slot
        self._head = [prefix] if campaign is None else [prefix, "{" + campaign + "}"]

    def _k(self, *parts: object) -> str:
        return ":".join([*self._head, *(str(p) for p in parts)])

    @property
    def bindings(self) -> str:  # hash "platform:user" -> binding JSON
        return self._k("bind")

    def dept(self, department: str) -> str:  # hash indicator id -> assignment JSON
        return self._k("dept", department)

    @property
    def dept_prefix(self) -> str:
        return self._k("dept", "")

    @property
    def statuses(self) -> str:  # hash "ind|dept" -> "role:status"
        return self._k("status")

    def dept_states(self, department: str) -> str:  # hash indicator id -> "role:status"
        return self._k("dstat", department)

    @property
    def dept_states_prefix(self) -> str:
        return self._k("dstat", "")

    @property
    def origin(self) -> str:  # "demo" | "live": how this store began (Assignments.record_origin)
        return self._k("origin")

    @property
    def reached(self) -> str:  # hash dept -> ISO time its completed set last changed
        return self._k("reached")

    def undo(self, department: str, indicator_id: int) -> str:  # list of previous states
        return self._k("undo", department, indicator_id)

    @property
    def undo_prefix(self) -> str:
        return self._k("undo", "")

    def binding_fold(self, person: str) -> str:  # hash: a person's binding changes being folded
        return self._k("bindfold", person)

    @property
    def binding_folds(self) -> str:  # sorted set person -> epoch ms their fold is due
        return self._k("bindfolds")

    def campaign_choice(self, platform: str, user_id: str) -> str:  # the campaign 切换 chose
        return self._k("campaign", platform, user_id)

    def comments(self, indicator_id: int, department: str) -> str:  # list of comment JSON
        return self._k("comments", indicator_id, department)

    @property
    def bind_requests(self) -> str:  # hash "platform:user" -> requested binding JSON
        return self._k("bindreq")

    @property
    def stars(self) -> str:  # hash ind -> "1" | "0" (overrides the catalogue's ★)
        return self._k("stars")

    @property
    def event_dates(self) -> str:  # hash event key -> YYYY-MM-DD set by the office
        return self._k("events")

    def chat_member(self, department: str, platform: str, user_id: str) -> str:
        # set once someone was told they act for the department of the group they write in
        return self._k("chatmember", department, platform, user_id)

    def clock_anchor(self, name: str) -> str:  # the real instant a fake clock started at
        return self._k("clock", name)

    @property
    def demo_shift(self) -> str:  # days the demo campaign is moved by (see bot.runtime)
        return self._k("demo", "shift")

    @property
    def audit(self) -> str:  # stream
        return self._k("audit")

    @property
    def outbox(self) -> str:  # stream of notices waiting to be pushed
        return self._k("outbox")

    @property
    def last_ranking(self) -> str:  # hash dept -> rank at the last ranking push
        return self._k("rank", "last")

    def seen(self, platform: str, message_id: str) -> str:
        return self._k("seen", platform, message_id)

    @property
    def inbox(self) -> str:  # stream of callbacks acknowledged at once, answered by a worker
        return self._k("inbox")

    def inbox_consumer(self, name: str) -> str:  # set while that inbox consumer is alive
        return self._k("inbox", "alive", name)

    def lock(self, name: str) -> str:
        return self._k("lock", name)

    def marker(self, name: str) -> str:
        return self._k("mark", name)

    def submissions(self, department: str) -> str:  # list of submission JSON, newest last
        return self._k("sub", department)

    def budget(self, robot: str) -> str:
        return self._k("budget", robot)

    def cooldown(self, robot: str) -> str:
        return self._k("cool", robot)

    @property
    def dead_letters(self) -> str:
        return self._k("dead")

    def link(self, url: str) -> str:  # hash: status, title, ok, checked_at
        return self._k("link", url)

    @property
    def link_queue(self) -> str:  # set of URLs waiting for a check
        return self._k("linkq")

    @property
    def link_recheck(self) -> str:  # sorted set URL -> epoch seconds of its next check
        return self._k("linkre")

    def schedule(self, name: str) -> str:
        return self._k("sched", name)

    def login(self, name: str) -> str:  # counters and waits of the office's login
        return self._k("login", name)

    def web_session(self, digest: str) -> str:  # an office login: its credential fingerprint
        return self._k("websess", digest)

    def submission_seq(self, department: str) -> str:  # counter: the last submission version
        return self._k("subseq", department)

    @property
    def submitted(self) -> str:  # hash dept -> JSON {version, at} of its latest submission
        return self._k("submitted")

    def submission_files(self, department: str) -> str:  # hash version -> JSON files and mail
        return self._k("subfiles", department)

    def export(self, token: str) -> str:  # hash: name, department, kind, size, at, data
        return self._k("export", token)

    @property
    def exports(self) -> str:  # sorted set token -> created (epoch ms)
        return self._k("exports")

    # outbound delivery (bot/delivery.py)

    def part_marker(self, push_id: str, part: int) -> str:  # sending:<tok>:<ms>|sent|uncertain
        return self._k("dlv", "part", push_id, part)

    @property
    def push_leases(self) -> str:  # sorted set push id -> lease deadline (epoch s)
        return self._k("dlv", "lease")

    @property
    def push_specs(self) -> str:  # hash push id -> job kwargs JSON of an unfinished push
        return self._k("dlv", "spec")

    @property
    def drain_pending(self) -> str:  # set while a drain of the outbox is queued
        return self._k("dlv", "drain")

    def remind_cooldown(self, department: str) -> str:  # the office's last 催办 (ISO), with TTL
        return self._k("remind-cooldown", department)

    def token_cache(self, name: str) -> str:  # an access token, expiring before the platform's
        return self._k("dlv", "token", name)

    def fill_link(self, link_id: str) -> str:  # hash: a fill-in page link's record (filllinks)
        return self._k("fill", link_id)

    @property
    def fill_link_prefix(self) -> str:
        return self._k("fill", "")

    def fill_link_of(self, person: str) -> str:  # the id of a person's current fill-in link
        return self._k("fill-of", person)

    def inspection(self, department: str) -> str:  # hash indicator id -> inspection mark JSON
        return self._k("inspect", department)

    def held_file(self, platform: str, user_id: str) -> str:  # JSON of a file held, with TTL
        return self._k("held-file", platform, user_id)
