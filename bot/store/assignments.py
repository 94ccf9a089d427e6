"""Assignments and their materials: each department's hash, the status index, undo stacks,
the office's ★ toggles and event dates, and the one-round-trip read a chat command starts with."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from types import MappingProxyType
from typing import Any

import redis

from bot import progress
from bot.progress import Assignment, Role, Status, TaskState
from bot.records import Binding, Change, ConflictError, Finish, Finished, Preload
from bot.store.base import Area, _notice_args, _s, begun_args, finished
from bot.store.bindings import CHAT_MEMBER_TTL
from bot.store.links import _link_state

# b"lead:todo" -> (Role.LEAD, Status.TODO): the values of the status hashes, parsed once.
_ROLE_STATUS = {
    f"{r.value}:{s.value}".encode(): (r, s) for r in Role for s in Status
}  # fmt: skip

# The last `status` hash parsed in this process and what it parsed to. 进度, 排行 and the admin
# pages read the whole hash (thousands of fields for a province) and most reads find it as the
# last one left it: comparing two dicts of bytes is far cheaper than parsing one again.
_LAST_STATUSES: tuple[dict, Mapping] = ({}, MappingProxyType({}))

# (field, value) -> its parse: a changed hash differs from the last in a few fields only
_STATUS_PAIRS: dict[tuple, tuple] = {}

# (indicator, role:status, JSON) of a department's status hash -> its TaskState (_task_states)
_TASK_STATES: dict[tuple, TaskState] = {}

# (connection, status hash) -> (the change log's entry applied last, the statuses then): a
# reader applies the changes logged since (lua/statuses_since.lua) instead of reading the hash
# again, thousands of fields for a province; only the first read, or one after a sync or a
# restore deleted the log, reads it whole.
_STATUS_AT: dict[tuple[int, str], tuple[str, Mapping]] = {}
STATUS_LOG_TAKE = 500  # more changes than this since a reader's last read: it reads the hash

# A material's link in an assignment's JSON; a quote inside any text is escaped (\\"), so
# nothing people wrote can look like this.
_URL_IN_JSON = re.compile(r'"url":"((?:[^"\\]|\\.)+)"')


class Assignments(Area):
    """Assignments and their materials: each department's hash, the status index, undo stacks,
    the office's ★ toggles and event dates, and the one-round-trip read a chat command starts with."""

    def sync(self, assignments: dict[tuple[int, str], Role]) -> int:
        """Create every assignment that does not exist yet (existing state is never touched).

        Each department's status hash is filled from the global status index, so a store from
        before that hash existed gets it on the next start.
        """
        k = self.keys
        known = self.r.hgetall(k.statuses)
        pipe = self.r.pipeline(transaction=False)
        for (ind, dept), role in assignments.items():
            fresh = Assignment(ind, dept, role).to_json()
            value = known.get(f"{ind}|{dept}".encode()) or f"{role.value}:{Status.TODO.value}"
            pipe.hsetnx(k.dept(dept), str(ind), fresh)
            pipe.hsetnx(k.statuses, f"{ind}|{dept}", value)
            pipe.hsetnx(k.dept_states(dept), str(ind), value)
        results = pipe.execute()
        if any(results[1::3]):  # status fields the change log does not know: readers read anew
            self.r.delete(k.status_log)
        return sum(1 for created in results[::3] if created)

    def record_origin(self, mode: str) -> str:
        """How this store began, recorded once by the first process to open it: `mode`
        ("demo" or "live") if it holds no state yet, else "live" (state from before the record
        existed is taken to be real). Returns the recorded origin. Atomic, so processes that
        start together on an empty store agree."""
        k = self.keys
        return _s(self._script("record_origin")(keys=[k.origin, k.statuses], args=[mode]))

    def preload(
        self,
        platform: str,
        user_id: str,
        indicator_id: int | None,
        scope: str,
        claim: str = "",
        chat_department: str = "",
        user_name: str = "",
    ) -> Preload:
        """One round trip: the binding, star overrides, the office's event dates and the
        department's state.

        scope: "one" (the assignment `indicator_id` and its undo top), "all" (every assignment
        of the department), "states" (the role and status of each, from the department's status
        hash: no assignment is decoded) or "none". With `chat_department` (the message was
        written in that department's own group), someone without a binding acts for it.
        """
        k = self.keys
        arg = {"one": str(indicator_id), "all": "", "none": "-", "states": "*"}[scope]
        marker = k.chat_member(chat_department, platform, user_id) if chat_department else k.none
        res = self._script("preload")(
            keys=[
                k.bindings, k.stars, k.seen(platform, claim) if claim else k.none, k.event_dates,
                marker,
            ],
            args=[
                f"{platform}:{user_id}", k.dept_prefix, k.undo_prefix, arg, self.claim_ttl_s,
                k.dept_states_prefix, chat_department, CHAT_MEMBER_TTL,
            ],
        )  # fmt: skip
        if res[0] == 0:
            return Preload(binding=None, duplicate=_s(res[1]))
        stars = _star_map(res[1])
        events = _event_dates(res[2])
        via = int(res[3])
        if res[0]:
            binding = Binding.from_json(platform, user_id, res[0])
        elif via:
            binding = Binding(platform, user_id, chat_department, user_name, via_chat=True)
        else:
            return Preload(binding=None, star_overrides=stars, event_dates=events)
        common = {"star_overrides": stars, "event_dates": events, "first_in_chat": via == 2}
        if scope == "states":
            return Preload(binding, states=_task_states(res[4]), **common)
        assignments: dict[int, Assignment] = {}
        raw: dict[int, str] = {}
        undo_top = None
        if len(res) > 4:
            flat = res[4]
            for i in range(0, len(flat), 2):
                ind, val = int(_s(flat[i])), _s(flat[i + 1])
                if val:
                    raw[ind] = val
                    assignments[ind] = Assignment.from_json(ind, binding.department, val)
            if len(res) > 5:
                undo_top = _s(res[5]) or None
        return Preload(binding, assignments, raw, undo_top, **common)

    def get(self, indicator_id: int, department: str) -> tuple[Assignment | None, str]:
        raw = _s(self.r.hget(self.keys.dept(department), str(indicator_id)))
        if not raw:
            return None, ""
        return Assignment.from_json(indicator_id, department, raw), raw

    def undo_top(self, department: str, indicator_id: int) -> str | None:
        """The newest entry of an assignment's undo stack, as 撤销 reads it (see preload)."""
        return _s(self.r.lindex(self.keys.undo(department, indicator_id), 0)) or None

    def of_department(self, department: str) -> dict[int, Assignment]:
        raw = self.r.hgetall(self.keys.dept(department))
        return {int(_s(f)): Assignment.from_json(int(_s(f)), department, v) for f, v in raw.items()}

    def of_departments(self, departments: Iterable[str]) -> dict[tuple[int, str], Assignment]:
        depts = list(departments)
        pipe = self.r.pipeline(transaction=False)
        for d in depts:
            pipe.hgetall(self.keys.dept(d))
        out: dict[tuple[int, str], Assignment] = {}
        for d, raw in zip(depts, pipe.execute(), strict=True):
            for f, v in raw.items():
                ind = int(_s(f))
                out[(ind, d)] = Assignment.from_json(ind, d, v)
        return out

    def at(self, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Assignment]:
        """The given (indicator, department) assignments only (one HMGET per department),
        where a page needs a few of many (the review queue's 已完成 ones)."""
        by_dept: dict[str, list[int]] = {}
        for ind, d in pairs:
            by_dept.setdefault(d, []).append(ind)
        pipe = self.r.pipeline(transaction=False)
        for d, inds in by_dept.items():
            pipe.hmget(self.keys.dept(d), [str(i) for i in inds])
        out: dict[tuple[int, str], Assignment] = {}
        for (d, inds), vals in zip(by_dept.items(), pipe.execute(), strict=True):
            for ind, v in zip(inds, vals, strict=True):
                if v:
                    out[(ind, d)] = Assignment.from_json(ind, d, v)
        return out

    def material_urls(self, wanted: dict[str, list[int]]) -> dict[str, list[str]]:
        """department -> the link URLs of the given assignments, read from the stored JSON
        without decoding the rest of it (the cockpit counts dead links on every page view)."""
        depts = [d for d, ids in wanted.items() if ids]
        pipe = self.r.pipeline(transaction=False)
        for d in depts:
            pipe.hmget(self.keys.dept(d), [str(i) for i in wanted[d]])
        out: dict[str, list[str]] = {}
        for d, values in zip(depts, pipe.execute() if depts else [], strict=True):
            urls = out.setdefault(d, [])
            for v in values:
                for u in _URL_IN_JSON.findall(_s(v)) if v else ():
                    urls.append(json.loads(f'"{u}"') if "\\" in u else u)
        return out

    def statuses(self) -> Mapping[tuple[int, str], tuple[Role, Status]]:
        """{(indicator, department): (role, status)}, read-only and shared (see _parse_statuses);
        one round trip, two when the whole hash must be read (see _STATUS_AT)."""
        return self._read_statuses(lambda pipe: None)[0]

    def _read_statuses(self, more: Callable[[Any], None]) -> tuple[Mapping, list]:
        """The statuses and the results of the reads `more` queues, in one pipeline. The script
        goes in as a plain EVALSHA: redis-py's Script queued on a pipeline makes each execute
        ask SCRIPT EXISTS first, a round trip more; if Redis lost its scripts (a restart), they
        are loaded and the reads run again."""
        k = self.keys
        for attempt in (1, 2):
            at = _STATUS_AT.get((id(self.r), k.statuses))
            keys, args = [k.statuses, k.status_log], [at[0] if at else "", STATUS_LOG_TAKE]
            pipe = self._pipe()
            since = None
            if isinstance(self.r, redis.RedisCluster):  # a cluster's pipeline takes no script
                since = self._script("statuses_since")(keys=keys, args=args)
            else:
                pipe.evalsha(self._script("statuses_since").sha, len(keys), *keys, *args)
            more(pipe)
            try:
                res = pipe.execute() if len(pipe) else []
            except redis.exceptions.NoScriptError:
                if attempt == 2:
                    raise
                self.scripts.load(("statuses_since",))
                continue
            if since is None:
                since = res.pop(0)
            return self._statuses_from(at, since), res
        raise AssertionError("unreachable")

    def _statuses_from(self, at: tuple[str, Mapping] | None, res: list) -> Mapping:
        last, whole = _s(res[0]), int(res[1])
        now = _STATUS_AT.get((id(self.r), self.keys.statuses))
        if not whole and now is not None and now[0] == last:
            # another thread read up to the same entry meanwhile: its mapping, so that every
            # reader holds one mapping per entry (bot.progress keeps its counts by identity)
            return now[1]
        if whole or at is None:
            # The hash read after the log's last entry: the changes after that entry, applied
            # on the next read, may be in it already; a logged value is the whole value, so
            # applying it again leaves it as it is.
            parsed = _parse_statuses(self.r.hgetall(self.keys.statuses))
        else:
            parsed = _apply_log(at[1], res[2:])
        if len(_STATUS_AT) > 64:  # connections of long ago (tests)
            _STATUS_AT.clear()
        _STATUS_AT[(id(self.r), self.keys.statuses)] = (last, parsed)
        return parsed

    def ranking_inputs(
        self,
    ) -> tuple[
        Mapping[tuple[int, str], tuple[Role, Status]],
        dict[int, bool],
        dict[str, str],
        dict[str, int],
    ]:
        """One round trip (see statuses): every status, the star overrides, reached-at times,
        the last ranks."""
        k = self.keys
        statuses, (stars, reached, last) = self._read_statuses(
            lambda pipe: pipe.hgetall(k.stars).hgetall(k.reached).hgetall(k.last_ranking)
        )
        return (
            statuses,
            _star_map(stars),
            {_s(a): _s(b) for a, b in reached.items()},
            {_s(a): int(_s(b)) for a, b in last.items()},
        )

    def statuses_for(self, indicator_id: int, departments: Iterable[str]) -> dict[str, Status]:
        depts = list(departments)
        if not depts:
            return {}
        vals = self.r.hmget(self.keys.statuses, [f"{indicator_id}|{d}" for d in depts])
        return {d: Status(_s(v).partition(":")[2]) for d, v in zip(depts, vals, strict=True) if v}

    def indicator_view(
        self, indicator_id: int, departments: list[str], urls: list[str], thread: str = ""
    ) -> dict:
        """One round trip: every unit's status on an indicator, the check state of some links,
        and (`thread`: a department) its thread with the office, oldest comment first."""
        pipe = self._pipe()
        if thread:
            pipe.lrange(self.keys.comments(indicator_id, thread), 0, -1)
        if departments:
            pipe.hmget(self.keys.statuses, [f"{indicator_id}|{d}" for d in departments])
        for u in urls:
            pipe.hgetall(self.keys.link(u))
        res = pipe.execute() if (departments or urls or thread) else []
        comments = [json.loads(_s(c)) for c in res.pop(0)] if thread else []
        statuses: dict[str, Status] = {}
        if departments:
            vals = res.pop(0)
            statuses = {
                d: Status(_s(v).partition(":")[2])
                for d, v in zip(departments, vals, strict=True)
                if v
            }
        links = {u: _link_state(h) for u, h in zip(urls, res, strict=True) if h}
        return {"statuses": statuses, "links": links, "comments": comments}

    def star_overrides(self) -> dict[int, bool]:
        return _star_map(self.r.hgetall(self.keys.stars))

    def event_dates(self) -> dict[str, date]:
        """The event days the office has set (event key -> date)."""
        return _event_dates(self.r.hgetall(self.keys.event_dates))

    def save(self, ch: Change, fin: Finish | None = None) -> Finished:
        """Commit one change atomically; raises ConflictError if the stored value moved.

        With `fin`, the same step ends the callback (see Inbox.finish): the result says whether
        to queue a drain of the outbox, and holds the claim of the reply's first part when
        `fin.begin` asks for one.
        """
        k = self.keys
        a = ch.after
        at = self.now_iso()
        seen = k.seen(fin.platform, fin.message_id) if fin else k.none
        keys, begin = begun_args(self.r, fin, [
            k.dept(a.department), k.statuses, k.undo(a.department, a.indicator_id), k.audit,
            k.reached, k.outbox, k.link_queue, seen, k.drain_pending, k.dept_states(a.department),
            k.status_log,
        ])  # fmt: skip
        args = [
            str(a.indicator_id),
            a.department,
            ch.before_raw,
            a.to_json(),
            f"{a.role.value}:{a.status.value}",
            ch.undo,
            ch.undo_entry,
            ch.reached_at,
            at,
            ch.actor,
            ch.action,
            ch.note,
            (fin.reply or "\x00") if fin else "",
            fin.ttl if fin else 0,
            fin.drain_group if fin else "",
            fin.debounce_ms if fin else 0,
            *(begin or ["", "", "", "", ""]),
            str(len(ch.notices)),
            *_notice_args(ch.notices, at),
            *ch.link_urls,
        ]
        ok = self._durable(self._script("save_assignment"), keys, args)
        if not ok:
            raise ConflictError(f"{a.indicator_id}|{a.department}")
        return finished(ok, lambda v: v == 2)

    def set_event_date(
        self,
        key: str,
        expected: date | None,
        day: date | None,
        actor: str,
        claim: tuple[str, str] | None = None,
    ) -> None:
        """Set (or with None clear) the day of an event, compare-and-set, audited."""
        ok = self._script("set_field")(
            keys=[self.keys.event_dates, self.keys.audit, self._seen_of(claim)],
            args=[
                key,
                expected.isoformat() if expected else "",
                day.isoformat() if day else "",
                self.now_iso(),
                actor,
                "event_date",
                "",
                key,
            ],
        )
        if not ok:
            raise ConflictError(f"event {key}")

    def set_star(
        self,
        indicator_id: int,
        expected: bool | None,
        starred: bool,
        actor: str,
        claim: tuple[str, str] | None = None,
    ) -> None:
        def enc(v: bool | None) -> str:
            return "" if v is None else ("1" if v else "0")

        ind = str(indicator_id)
        ok = self._script("set_field")(
            keys=[self.keys.stars, self.keys.audit, self._seen_of(claim)],
            args=[ind, enc(expected), enc(starred), self.now_iso(), actor, "star", ind, ""],
        )
        if not ok:
            raise ConflictError(f"star {indicator_id}")


def _role_status(v: bytes | str) -> tuple[Role, Status]:
    return _ROLE_STATUS[v if isinstance(v, bytes) else v.encode()]


def _parse_statuses(raw: dict) -> Mapping[tuple[int, str], tuple[Role, Status]]:
    """The `status` hash as {(indicator, department): (role, status)}, read-only: the same
    object is handed to every caller while the hash does not change (see compute_scores). A
    hash that differs from the last one in a few fields is parsed as the last mapping with
    those fields changed, and the change is told to bot.progress, which then updates its
    scores instead of counting every assignment again."""
    global _LAST_STATUSES
    last_raw, last = _LAST_STATUSES
    if raw == last_raw:
        return last
    diff = raw.items() ^ last_raw.items() if last_raw else None  # a set difference, in C
    if diff is not None and len(diff) <= max(64, len(raw) // 8):
        out = dict(last)
        changes = []
        for field in {f for f, _ in diff}:
            value = raw.get(field)
            key = _status_key(field)
            new = None if value is None else _role_status(value)
            old = out.pop(key, None) if new is None else out.get(key)
            if new is not None:
                out[key] = new
            if old != new:
                changes.append((key, old, new))
        parsed = MappingProxyType(out)
        progress.derived(parsed, last, changes)
    else:
        if len(_STATUS_PAIRS) > 4 * len(raw) + 1000:  # fields and states of long ago
            _STATUS_PAIRS.clear()
        out = {}
        for pair in raw.items():
            known = _STATUS_PAIRS.get(pair)
            if known is None:
                known = _STATUS_PAIRS[pair] = (_status_key(pair[0]), _role_status(pair[1]))
            out[known[0]] = known[1]
        parsed = MappingProxyType(out)
    _LAST_STATUSES = (raw, parsed)
    return parsed


def _apply_log(base: Mapping, flat: list) -> Mapping:
    """`base` with the logged changes `flat` (field, value, ...; oldest first, value b"" = the
    field is gone) applied: `base` itself when nothing differs, else a new read-only mapping,
    whose changes are told to bot.progress (its scores are updated by them alone)."""
    latest = {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}
    out, changes = None, []
    for field, value in latest.items():
        if not field:
            continue  # the entry that began the log
        key = _status_key(field)
        new = _role_status(value) if value else None
        old = base.get(key)
        if old == new:
            continue
        if out is None:
            out = dict(base)
        if new is None:
            del out[key]
        else:
            out[key] = new
        changes.append((key, old, new))
    if out is None:
        return base
    parsed = MappingProxyType(out)
    progress.derived(parsed, base, changes)
    return parsed


def _status_key(field: bytes | str) -> tuple[int, str]:
    ind, _, dept = _s(field).partition("|")
    return int(ind), dept


def _task_states(flat: list) -> dict[int, TaskState]:
    """{indicator: its TaskState} from the preload's (indicator, role:status, JSON or "") triples.
    A TaskState is immutable, so the same triple gives the same one, built once per process."""
    if len(_TASK_STATES) > 100_000:
        _TASK_STATES.clear()
    out: dict[int, TaskState] = {}
    for i in range(0, len(flat), 3):
        triple = (flat[i], flat[i + 1], flat[i + 2])
        state = _TASK_STATES.get(triple)
        if state is None:
            ind = int(flat[i])
            role, status = _role_status(flat[i + 1])
            full = json.loads(flat[i + 2]) if flat[i + 2] else {}
            state = TaskState(ind, role, status, full.get("reason", ""), full.get("due", ""))
            _TASK_STATES[triple] = state
        out[state.indicator_id] = state
    return out


def _event_dates(flat) -> dict[str, date]:
    items = zip(flat[::2], flat[1::2], strict=True) if isinstance(flat, list) else flat.items()
    return {_s(k): date.fromisoformat(_s(v)) for k, v in items}


def _star_map(flat) -> dict[int, bool]:
    if isinstance(flat, dict):
        items = flat.items()
    else:
        items = zip(flat[::2], flat[1::2], strict=True)
    return {int(_s(k)): _s(v) == "1" for k, v in items}
