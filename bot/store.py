"""The only module that speaks Redis: key names (`Keys`) and `RedisStore`, which returns domain objects.

Every change of state is one Lua script that checks the expected old value, writes the new one,
appends exactly one audit entry and any outgoing notices (the outbox) in the same atomic step.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType

import redis

from bot.filllinks import FillLink
from bot.messages import Notice
from bot.progress import Assignment, Role, Status, TaskState
from bot.records import (
    CLAIM_TTL_S,
    SEEN_TTL_S,
    AuditEntry,
    Binding,
    Change,
    ConflictError,
    Finish,
    Preload,
)

CHAT_MEMBER_TTL = 400 * 86400  # "you act for this department here" is said once a campaign


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Keys:
    """Every Redis key of Duban, under one configurable prefix."""

    def __init__(self, prefix: str = "duban"):
        self.prefix = prefix

    def _k(self, *parts: object) -> str:
        return ":".join([self.prefix, *(str(p) for p in parts)])

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
    def origin(self) -> str:  # "demo" | "live": how this store began (RedisStore.record_origin)
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

    def blob(self, name: str) -> str:
        return self._k("blob", name)

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

    # --- outbound delivery (issue 3, bot/delivery.py) ---------------------------------------

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

    # --- inspect: the September inspection's marks (bot/inspection.py) ---

    def inspection(self, department: str) -> str:  # hash indicator id -> mark JSON
        return self._k("inspect", department)

    # --- files: a file sent in chat, held for its sender until a number files it ---

    def held_file(self, platform: str, user_id: str) -> str:  # JSON of the held file, with TTL
        return self._k("held-file", platform, user_id)


# Lua shared by several scripts (prepended to them).
_LUA_NOTICES = """
-- XADD n notices (5 fields each) from ARGV[i..] onto `outbox`; returns the next ARGV index.
local function add_notices(outbox, n, i)
  for _ = 1, n do
    redis.call('XADD', outbox, '*', 'text', ARGV[i], 'department', ARGV[i + 1],
      'mentions', ARGV[i + 2], 'kind', ARGV[i + 3], 'at', ARGV[i + 4])
    i = i + 5
  end
  return i
end
"""

_LUA_HOLD = f"""
-- A callback's message id is claimed for CLAIM_TTL_S only, so that a claim whose command never
-- committed (Redis failed for the save and for the release both) frees itself. The script that
-- commits the command's effect makes the claim last the dedupe window. '' = not a callback.
local function hold(seen)
  if seen ~= '' then redis.call('EXPIRE', seen, {SEEN_TTL_S}) end
end
"""

_LUA_FINISH = """
-- The end of a callback: store the reply for redeliveries under the message's seen key, and
-- return 1 when the outbox holds entries `group` has not read and no drain was requested within
-- `debounce` ms (the caller then queues one drain). `seen` = '' skips the reply.
local function finish(seen, reply, ttl, outbox, pending, group, debounce)
  if seen ~= '' then redis.call('SET', seen, reply, 'EX', ttl) end
  if group == '' or redis.call('EXISTS', outbox) == 0 then return 0 end
  local info = redis.call('XINFO', 'STREAM', outbox)
  local last = ''
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = info[i + 1] end
  end
  local delivered = ''
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', outbox)) do
    local name, read = '', ''
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] end
      if g[i] == 'last-delivered-id' then read = g[i + 1] end
    end
    if name == group then delivered = read end
  end
  if last == delivered then return 0 end
  if redis.call('SET', pending, '1', 'NX', 'PX', debounce) then return 1 end
  return 0
end
"""

_SAVE_ASSIGNMENT = (
    _LUA_NOTICES
    + _LUA_FINISH
    + """
-- KEYS: dept hash, status hash, undo list, audit stream, reached hash, outbox stream, link queue,
--       seen key ('' = not a callback), drain-pending flag, the department's status hash
-- ARGV: ind, dept, expected, new, statusval, undo_mode, undo_entry, reached_at,
--       at, actor, action, note, reply, reply ttl, drain group ('' = no drain check),
--       debounce ms, n_notices, notice fields (5 each)..., then link urls
-- Returns 0 on a conflict, else 1 + 1 if a drain of the outbox should be queued.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1] .. '|' .. ARGV[2], ARGV[5])
redis.call('HSET', KEYS[10], ARGV[1], ARGV[5])
if ARGV[6] == 'push' then
  redis.call('LPUSH', KEYS[3], ARGV[7])
  redis.call('LTRIM', KEYS[3], 0, 19)
elseif ARGV[6] == 'pop' then
  redis.call('LPOP', KEYS[3])
end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[5], ARGV[2], ARGV[8]) end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', 1000000, '*', 'at', ARGV[9], 'actor', ARGV[10],
  'action', ARGV[11], 'department', ARGV[2], 'indicator', ARGV[1], 'before', cur,
  'after', ARGV[4], 'note', ARGV[12])
local i = add_notices(KEYS[6], tonumber(ARGV[17]), 18)
while i <= #ARGV do
  redis.call('SADD', KEYS[7], ARGV[i])
  i = i + 1
end
return 1 + finish(KEYS[8], ARGV[13], ARGV[14], KEYS[6], KEYS[9], ARGV[15], ARGV[16])
"""
)

_ACCEPT = """
-- KEYS: seen key of the accepted copy, inbox stream; ARGV: ttl s, payload
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], '*', 'msg', ARGV[2])
return 1
"""

_FINISH = (
    _LUA_FINISH
    + """
-- KEYS: seen key, outbox stream, drain-pending flag; ARGV: reply, ttl, group, debounce ms
return finish(KEYS[1], ARGV[1], ARGV[2], KEYS[2], KEYS[3], ARGV[3], ARGV[4])
"""
)

_SET_BINDING = (
    _LUA_NOTICES
    + _LUA_HOLD
    + """
-- KEYS: bindings hash, audit stream, outbox stream, the person's fold hash, the folds due,
--       the callback's seen key ('' = none), the person's fill-in link pointer, the prefix of
--       fill-in link records
-- ARGV: field, expected, new ('' = delete), at, actor, action, department, fold window ms
--       (0 = announce every change), display name, n_notices, notices...
-- Returns 0 on a conflict, 1 when the notices were queued, 2 when they were folded.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000000, '*', 'at', ARGV[4], 'actor', ARGV[5],
  'action', ARGV[6], 'department', ARGV[7], 'indicator', '', 'before', cur, 'after', ARGV[3],
  'note', '')
-- a fill-in page link belongs to the binding it was issued under: any change revokes it
local link = redis.call('GET', KEYS[7])
if link then redis.call('DEL', KEYS[8] .. link, KEYS[7]) end
hold(KEYS[6])
local window = tonumber(ARGV[8])
if window > 0 and redis.call('EXISTS', KEYS[4]) == 1 then
  -- within the window of this person's last announced change: counted, told at its end
  redis.call('HINCRBY', KEYS[4], 'n', 1)
  redis.call('HSET', KEYS[4], 'name', ARGV[9])
  local i = 11
  for _ = 1, tonumber(ARGV[10]) do
    redis.call('HSET', KEYS[4], 'd:' .. ARGV[i + 1], '1')
    i = i + 5
  end
  redis.call('PERSIST', KEYS[4])
  redis.call('ZADD', KEYS[5], redis.call('HGET', KEYS[4], 'until'), ARGV[1])
  return 2
end
add_notices(KEYS[3], tonumber(ARGV[10]), 11)
if window > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSET', KEYS[4], 'until', string.format('%d', now + window), 'n', 0)
  redis.call('PEXPIRE', KEYS[4], window)
end
return 1
"""
)

_BIND_REQUEST = (
    _LUA_NOTICES
    + _LUA_HOLD
    + """
-- A 绑定 waiting for the office (Settings.bind_approval): asked, approved or refused in one step.
-- KEYS: requests hash, bindings hash, audit stream, outbox stream, the callback's seen key
-- ARGV: field, expected request, new request ('' = delete), expected binding, new binding
--       ('' = the binding stays as it is), at, actor, action, department, note, n_notices,
--       notices...
-- Returns 0 on a conflict (the request or the binding changed meanwhile), 1 when done.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return 0 end
if ARGV[5] ~= '' then
  local b = redis.call('HGET', KEYS[2], ARGV[1])
  if not b then b = '' end
  if b ~= ARGV[4] then return 0 end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', 1000000, '*', 'at', ARGV[6], 'actor', ARGV[7],
    'action', 'bind', 'department', ARGV[9], 'indicator', '', 'before', b, 'after', ARGV[5],
    'note', '')
end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 1000000, '*', 'at', ARGV[6], 'actor', ARGV[7],
  'action', ARGV[8], 'department', ARGV[9], 'indicator', '', 'before', cur, 'after', ARGV[3],
  'note', ARGV[10])
hold(KEYS[5])
add_notices(KEYS[4], tonumber(ARGV[11]), 12)
return 1
"""
)

_ADD_COMMENT = (
    _LUA_NOTICES
    + _LUA_HOLD
    + """
-- One comment in a department × indicator thread, audited, its notices queued.
-- KEYS: the thread list, audit stream, outbox stream, the callback's seen key ('' = none)
-- ARGV: comment JSON, at, actor, department, indicator, text, n_notices, notices...
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000000, '*', 'at', ARGV[2], 'actor', ARGV[3],
  'action', 'comment', 'department', ARGV[4], 'indicator', ARGV[5], 'before', '', 'after', '',
  'note', ARGV[6])
hold(KEYS[4])
add_notices(KEYS[3], tonumber(ARGV[7]), 8)
return 1
"""
)

_TAKE_FOLDS = """
-- KEYS: the folds due, then the fold-hash prefix as KEYS[2]; ARGV: count
-- The folds whose window has ended (Redis's clock), each removed as it is taken:
-- {person, flat hash, ...}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[1])
local out = {}
for _, person in ipairs(due) do
  local key = KEYS[2] .. person
  out[#out + 1] = person
  out[#out + 1] = redis.call('HGETALL', key)
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], person)
end
return out
"""

_RELEASE_CLAIM = """
-- KEYS: seen key. A claim in progress is ''; anything else is a stored reply.
if redis.call('GET', KEYS[1]) == '' then return redis.call('DEL', KEYS[1]) end
return 0
"""

_ISSUE_FILL_LINK = """
-- KEYS: the person's fill-in link pointer, the prefix of link records, the audit stream
-- ARGV: new id, platform, user, department, name, expires (epoch s), ttl s, at, actor, note
-- The person's link before this one is revoked in the same step.
local old = redis.call('GET', KEYS[1])
if old then redis.call('DEL', KEYS[2] .. old) end
local key = KEYS[2] .. ARGV[1]
redis.call('HSET', key, 'platform', ARGV[2], 'user', ARGV[3], 'department', ARGV[4],
  'name', ARGV[5], 'expires', ARGV[6])
redis.call('EXPIRE', key, ARGV[7])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[7])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 1000000, '*', 'at', ARGV[8], 'actor', ARGV[9],
  'action', 'fill_link', 'department', ARGV[4], 'indicator', '', 'before', '', 'after', '',
  'note', ARGV[10])
return 1
"""

_RECORD_ORIGIN = """
-- KEYS: origin, status hash; ARGV: the mode of a store that is empty now
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
local origin = ARGV[1]
if redis.call('EXISTS', KEYS[2]) == 1 then origin = 'live' end
redis.call('SET', KEYS[1], origin)
return origin
"""

_RESERVE_LOGIN = """
-- KEYS: address counter, account counter, account wait-until; ARGV: limit, window ms, free,
-- base ms, max ms. Redis's clock is every web worker's clock.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then
  return {'address', redis.call('PTTL', KEYS[1])}
end
local wait = tonumber(redis.call('GET', KEYS[3]) or '0') - now
if wait > 0 then return {'account', wait} end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
local over = n - tonumber(ARGV[3])
if over > 0 then
  local delay = math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) * 2 ^ math.min(over - 1, 30))
  redis.call('SET', KEYS[3], string.format('%d', now + delay), 'PX', string.format('%d', delay))
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return {'go', 0}
"""

_SET_FIELD = (
    _LUA_HOLD
    + """
-- One field of a settings hash (the office's ★ toggles, event dates), compare-and-set, audited.
-- KEYS: the hash, audit stream, the callback's seen key ('' = none)
-- ARGV: field, expected ('' = unset), new ('' = delete), at, actor, action, indicator, note
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000000, '*', 'at', ARGV[4], 'actor', ARGV[5],
  'action', ARGV[6], 'department', '', 'indicator', ARGV[7], 'before', cur, 'after', ARGV[3],
  'note', ARGV[8])
hold(KEYS[3])
return 1
"""
)

_PRELOAD = """
-- KEYS: bindings hash, stars hash, seen key ('' = no claim), event dates hash,
--       chat-member marker ('' = not written in a department's own group)
-- ARGV: field, dept key prefix, undo key prefix,
--       ind ('' = all of the department, '-' = none, '*' = its role:status per indicator),
--       seen ttl, department status-hash prefix, the group's department ('' = none),
--       marker ttl
-- A callback claims its message id first: {0, stored reply} when it was claimed before.
-- Otherwise {binding or false, stars, event dates, via, state...}: without a binding, a message
-- in a department's own group acts for that department (via 1, or 2 the first time).
if KEYS[3] ~= '' and not redis.call('SET', KEYS[3], '', 'NX', 'EX', ARGV[5]) then
  return {0, redis.call('GET', KEYS[3]) or ''}
end
local b = redis.call('HGET', KEYS[1], ARGV[1])
local head = {b, redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[4]), 0}
local dept
if b then
  dept = cjson.decode(b)['department']
elseif ARGV[7] ~= '' then
  dept = ARGV[7]
  head[4] = 1
  if redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[8]) then head[4] = 2 end
else
  return head
end
if ARGV[4] == '-' then return head end
if ARGV[4] == '*' then
  local flat = redis.call('HGETALL', ARGV[6] .. dept)
  local out = {}
  for i = 1, #flat, 2 do
    local raw = ''
    if string.sub(flat[i + 1], -9) == ':returned' then
      raw = redis.call('HGET', ARGV[2] .. dept, flat[i]) or ''
    end
    out[#out + 1] = flat[i]
    out[#out + 1] = flat[i + 1]
    out[#out + 1] = raw
  end
  head[5] = out
  return head
end
if ARGV[4] == '' then
  head[5] = redis.call('HGETALL', ARGV[2] .. dept)
  return head
end
local a = redis.call('HGET', ARGV[2] .. dept, ARGV[4])
head[5] = {ARGV[4], a or ''}
head[6] = redis.call('LINDEX', ARGV[3] .. dept .. ':' .. ARGV[4], 0) or ''
return head
"""


def unavailable(e: BaseException) -> bool:
    """Redis was not reached (down, restarting, a timeout), or it refuses every write because
    it cannot persist them (MISCONF: a full disk under its AOF). Either way the call changed
    nothing (a script fails at its first write), and the work can be tried again later."""
    if isinstance(e, (redis.ConnectionError, redis.TimeoutError)):
        return True
    return isinstance(e, redis.ResponseError) and "MISCONF" in str(e)


def _field(fields: dict, name: str) -> str:
    """A stream entry's field, whether the client decodes responses or not."""
    return _s(fields.get(name.encode(), fields.get(name)))


def _s(v: bytes | str | None) -> str:
    if v is None:
        return ""
    return v.decode() if isinstance(v, bytes) else v


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def _notice_args(notices: Iterable[Notice], at: str) -> list[str]:
    out: list[str] = []
    for n in notices:
        out += [n.text, n.department, ",".join(n.mentions), n.kind, at]
    return out


class RedisStore:
    """Duban's state in Redis. `clock` is injectable so tests and jobs control 'now'."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "duban",
        clock: Callable[[], datetime] = utc_now,
        replicas: int = 0,
        claim_ttl_s: int = CLAIM_TTL_S,
    ):
        self.r = client
        self.keys = Keys(prefix)
        self.clock = clock
        self.replicas = replicas  # DUBAN_REDIS_MIN_REPLICAS (see replicated)
        self.claim_ttl_s = claim_ttl_s  # see bot.records.CLAIM_TTL_S
        self._save = client.register_script(_SAVE_ASSIGNMENT)
        self._bind = client.register_script(_SET_BINDING)
        self._star = client.register_script(_SET_FIELD)  # ★ toggles and event dates
        self._bind_request = client.register_script(_BIND_REQUEST)
        self._comment = client.register_script(_ADD_COMMENT)
        self._preload = client.register_script(_PRELOAD)
        self._finish = client.register_script(_FINISH)
        self._accept = client.register_script(_ACCEPT)

    def now_iso(self) -> str:
        return iso(self.clock())

    def ping(self) -> bool:
        return bool(self.r.ping())

    # --- set-up ---------------------------------------------------------------------------

    def sync_assignments(self, assignments: dict[tuple[int, str], Role]) -> int:
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
        return sum(1 for created in results[::3] if created)

    def record_origin(self, mode: str) -> str:
        """How this store began, recorded once by the first process to open it: `mode`
        ("demo" or "live") if it holds no state yet, else "live" (state from before the record
        existed is taken to be real). Returns the recorded origin. Atomic, so processes that
        start together on an empty store agree."""
        k = self.keys
        return _s(self._script(_RECORD_ORIGIN)(keys=[k.origin, k.statuses], args=[mode]))

    # --- inbound de-duplication -------------------------------------------------------------

    def claim_message(self, platform: str, message_id: str) -> tuple[bool, str]:
        """(True, "") the first time a platform message id is seen; else (False, stored reply).

        The stored reply is "" while the first copy is still being handled. The claim lasts
        `claim_ttl_s` unless the command's effect or reply is committed (see _LUA_HOLD).
        """
        key = self.keys.seen(platform, message_id)
        pipe = self.r.pipeline(transaction=False)  # one round trip, first copy or not
        claimed, stored = pipe.set(key, "", nx=True, ex=self.claim_ttl_s).get(key).execute()
        return (True, "") if claimed else (False, _s(stored))

    def claim_committed(self, platform: str, message_id: str) -> bool:
        """Whether a claim without a reply is held for the dedupe window: its command committed
        and the run died (or Redis failed) before the reply was stored. A claim that committed
        nothing keeps its short expiry, and goes by itself."""
        return int(self.r.ttl(self.keys.seen(platform, message_id))) > self.claim_ttl_s

    def stored_reply(self, platform: str, message_id: str) -> str | None:
        """What a message id holds, claiming nothing: None when unclaimed (never seen, released
        or expired), "" while claimed, else the stored reply."""
        raw = self.r.get(self.keys.seen(platform, message_id))
        return None if raw is None else _s(raw)

    def release_claim(self, platform: str, message_id: str) -> bool:
        """Forget a claim whose command left nothing behind (its save did not happen), so the
        platform's redelivery runs it; a stored reply is never removed."""
        key = self.keys.seen(platform, message_id)
        return bool(self._script(_RELEASE_CLAIM)(keys=[key], args=[]))

    def _seen_of(self, claim: tuple[str, str] | None) -> str:
        """The seen key of a callback's (platform, message id), "" for none."""
        return self.keys.seen(*claim) if claim else ""

    # --- reads ------------------------------------------------------------------------------

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
        marker = k.chat_member(chat_department, platform, user_id) if chat_department else ""
        res = self._preload(
            keys=[
                k.bindings, k.stars, k.seen(platform, claim) if claim else "", k.event_dates,
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

    def binding(self, platform: str, user_id: str) -> Binding | None:
        raw = self.r.hget(self.keys.bindings, f"{platform}:{user_id}")
        return Binding.from_json(platform, user_id, raw) if raw else None

    def bindings(self) -> list[Binding]:
        out = []
        for f, v in self.r.hgetall(self.keys.bindings).items():
            platform, _, user = _s(f).partition(":")
            out.append(Binding.from_json(platform, user, v))
        return out

    def assignment(self, indicator_id: int, department: str) -> tuple[Assignment | None, str]:
        raw = _s(self.r.hget(self.keys.dept(department), str(indicator_id)))
        if not raw:
            return None, ""
        return Assignment.from_json(indicator_id, department, raw), raw

    def undo_top(self, department: str, indicator_id: int) -> str | None:
        """The newest entry of an assignment's undo stack, as 撤销 reads it (see preload)."""
        return _s(self.r.lindex(self.keys.undo(department, indicator_id), 0)) or None

    def department_assignments(self, department: str) -> dict[int, Assignment]:
        raw = self.r.hgetall(self.keys.dept(department))
        return {int(_s(f)): Assignment.from_json(int(_s(f)), department, v) for f, v in raw.items()}

    def assignments_of(self, departments: Iterable[str]) -> dict[tuple[int, str], Assignment]:
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

    def assignments_at(self, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Assignment]:
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
        return _parse_statuses(self.r.hgetall(self.keys.statuses))

    def ranking_inputs(
        self,
    ) -> tuple[
        Mapping[tuple[int, str], tuple[Role, Status]],
        dict[int, bool],
        dict[str, str],
        dict[str, int],
    ]:
        """One round trip: every status, the star overrides, reached-at times, the last ranks."""
        k = self.keys
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(k.statuses).hgetall(k.stars).hgetall(k.reached).hgetall(k.last_ranking)
        st, stars, reached, last = pipe.execute()
        statuses = _parse_statuses(st)
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
        pipe = self.r.pipeline(transaction=False)
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

    def link_states(self, urls: Iterable[str]) -> dict[str, dict]:
        urls = list(dict.fromkeys(urls))
        pipe = self.r.pipeline(transaction=False)
        for u in urls:
            pipe.hgetall(self.keys.link(u))
        return {u: _link_state(h) for u, h in zip(urls, pipe.execute(), strict=True) if h}

    def set_link_state(self, url: str, state: dict, next_check: float | None = None) -> None:
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

    def queued_links(self, count: int = 100) -> list[str]:
        """New links, never checked yet."""
        return [_s(u) for u in self.r.srandmember(self.keys.link_queue, count)]

    def due_links(self, now: float, count: int) -> list[str]:
        """Checked links whose next check is due at `now` (epoch seconds), most overdue first."""
        return [_s(u) for u in self.r.zrangebyscore(self.keys.link_recheck, "-inf", now, 0, count)]

    def forget_links(self, urls: Iterable[str]) -> None:
        """No more checks for these (no material uses them any longer), new or planned."""
        urls = list(urls)
        if urls:
            pipe = self.r.pipeline(transaction=True)
            pipe.srem(self.keys.link_queue, *urls).zrem(self.keys.link_recheck, *urls)
            pipe.execute()

    def plan_link_check(self, url: str, at: float) -> None:
        """Take a link off the queue of new ones and plan its check at `at` (epoch seconds):
        done just before fetching it, so a run that dies on it meets it again only then."""
        pipe = self.r.pipeline(transaction=True)
        pipe.srem(self.keys.link_queue, url).zadd(self.keys.link_recheck, {url: at})
        pipe.execute()

    def star_overrides(self) -> dict[int, bool]:
        return _star_map(self.r.hgetall(self.keys.stars))

    def event_dates(self) -> dict[str, date]:
        """The event days the office has set (event key -> date)."""
        return _event_dates(self.r.hgetall(self.keys.event_dates))

    # --- writes -----------------------------------------------------------------------------

    def save(self, ch: Change, fin: Finish | None = None) -> bool:
        """Commit one change atomically; raises ConflictError if the stored value moved.

        With `fin`, the same step ends the callback (see finish) and the result says whether
        to queue a drain of the outbox.
        """
        k = self.keys
        a = ch.after
        at = self.now_iso()
        seen = k.seen(fin.platform, fin.message_id) if fin else ""
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
            str(len(ch.notices)),
            *_notice_args(ch.notices, at),
            *ch.link_urls,
        ]
        ok = self._durable(
            self._save,
            [
                k.dept(a.department),
                k.statuses,
                k.undo(a.department, a.indicator_id),
                k.audit,
                k.reached,
                k.outbox,
                k.link_queue,
                seen,
                k.drain_pending,
                k.dept_states(a.department),
            ],
            args,
        )
        if not ok:
            raise ConflictError(f"{a.indicator_id}|{a.department}")
        return ok == 2

    def set_binding(
        self,
        platform: str,
        user_id: str,
        before: Binding | None,
        after: Binding | None,
        actor: str,
        notices: tuple[Notice, ...] = (),
        fold_s: int = 0,
        name: str = "",
        claim: tuple[str, str] | None = None,
    ) -> bool:
        """Change one binding (compare-and-set, audited) and queue its notices. With `fold_s`,
        a person's changes within `fold_s` seconds of an announced one queue nothing: they are
        counted (under `name`) and told in one summary when the window ends (take_folds).
        Returns False when the notices were folded. `claim`: the (platform, message id) of the
        callback this commits, kept for the dedupe window in the same step."""
        k = self.keys
        at = self.now_iso()
        dept = (after or before).department if (after or before) else ""
        person = f"{platform}:{user_id}"
        ok = self._bind(
            keys=[
                k.bindings,
                k.audit,
                k.outbox,
                k.binding_fold(person),
                k.binding_folds,
                self._seen_of(claim),
                k.fill_link_of(person),
                k.fill_link_prefix,
            ],  # fmt: skip
            args=[
                person,
                before.to_json() if before else "",
                after.to_json() if after else "",
                at,
                actor,
                "bind" if after else "unbind",
                dept,
                fold_s * 1000,
                name,
                str(len(notices)),
                *_notice_args(notices, at),
            ],
        )
        if not ok:
            raise ConflictError(f"binding {platform}:{user_id}")
        return ok == 1

    def add_comment(
        self,
        indicator_id: int,
        department: str,
        comment: dict,
        actor: str,
        notices: tuple[Notice, ...] = (),
        claim: tuple[str, str] | None = None,
    ) -> None:
        """Append `comment` ({"side", "name", "text", "at"}) to the department × indicator
        thread, audited as `comment` (its text the note), with its notices."""
        at = self.now_iso()
        entry = json.dumps({**comment, "at": at, "by": actor}, ensure_ascii=False)
        self._comment(
            keys=[
                self.keys.comments(indicator_id, department),
                self.keys.audit,
                self.keys.outbox,
                self._seen_of(claim),
            ],
            args=[entry, at, actor, department, str(indicator_id), comment["text"],
                  str(len(notices)), *_notice_args(notices, at)],
        )  # fmt: skip

    def comment_threads(self, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], list]:
        """The threads of (indicator, department) pairs, oldest comment first (empty ones left
        out)."""
        pairs = list(pairs)
        pipe = self.r.pipeline(transaction=False)
        for ind, dept in pairs:
            pipe.lrange(self.keys.comments(ind, dept), 0, -1)
        return {
            p: [json.loads(_s(c)) for c in raw]
            for p, raw in zip(pairs, pipe.execute(), strict=True)
            if raw
        }

    def bind_requests(self) -> list[tuple[Binding, str]]:
        """The 绑定 requests waiting for the office: (the binding asked for, its stored JSON)."""
        out = []
        for f, v in self.r.hgetall(self.keys.bind_requests).items():
            platform, _, user = _s(f).partition(":")
            out.append((Binding.from_json(platform, user, v), _s(v)))
        return out

    def bind_request(self, platform: str, user_id: str) -> tuple[Binding | None, str]:
        raw = _s(self.r.hget(self.keys.bind_requests, f"{platform}:{user_id}"))
        return (Binding.from_json(platform, user_id, raw), raw) if raw else (None, "")

    def decide_bind_request(
        self,
        platform: str,
        user_id: str,
        expected: str,
        request: Binding | None,
        action: str,
        actor: str,
        *,
        department: str,
        bind: tuple[Binding | None, Binding] | None = None,
        note: str = "",
        notices: tuple[Notice, ...] = (),
        claim: tuple[str, str] | None = None,
    ) -> None:
        """Ask for a binding (`request`), or settle the request `expected` (its stored JSON): with
        `bind` (the binding as it is, the new one) it is approved in the same step; audited under
        `action`, with its notices queued. ConflictError when either changed meanwhile."""
        k = self.keys
        at = self.now_iso()
        before, after = bind if bind else (None, None)
        ok = self._bind_request(
            keys=[k.bind_requests, k.bindings, k.audit, k.outbox, self._seen_of(claim)],
            args=[
                f"{platform}:{user_id}",
                expected,
                request.to_json() if request else "",
                before.to_json() if before else "",
                after.to_json() if after else "",
                at,
                actor,
                action,
                department,
                note,
                str(len(notices)),
                *_notice_args(notices, at),
            ],
        )
        if not ok:
            raise ConflictError(f"binding request {platform}:{user_id}")

    def take_folds(self, count: int = 200) -> list[tuple[str, dict[str, str]]]:
        """(person "platform:user", fold) of every fold whose window has ended, removed as they
        are taken: {"n": changes folded, "name", "until": epoch ms, "d:<department>": "1"}."""
        k = self.keys
        res = self._script(_TAKE_FOLDS)(keys=[k.binding_folds, k.binding_fold("")], args=[count])
        out = []
        for i in range(0, len(res), 2):
            flat = res[i + 1]
            out.append((_s(res[i]), {_s(flat[j]): _s(flat[j + 1]) for j in range(0, len(flat), 2)}))
        return out

    # --- fill-in page links (bot/filllinks.py) ------------------------------------------------

    def issue_fill_link(self, link: FillLink, ttl_s: int, note: str) -> None:
        """Keep `link` as its person's one fill-in link (the one before is revoked), audited."""
        k = self.keys
        self._script(_ISSUE_FILL_LINK)(
            keys=[k.fill_link_of(link.actor), k.fill_link_prefix, k.audit],
            args=[
                link.link_id, link.platform, link.user_id, link.department, link.name,
                link.expires, ttl_s, self.now_iso(), link.actor, note,
            ],
        )  # fmt: skip

    def fill_link(self, link_id: str) -> FillLink | None:
        """The record of a link not revoked (by 解绑 or a newer link), else None."""
        raw = self.r.hgetall(self.keys.fill_link(link_id))
        if not raw:
            return None
        f = {_s(a): _s(b) for a, b in raw.items()}
        return FillLink(
            link_id, f["platform"], f["user"], f["department"], f["name"], int(f["expires"])
        )

    def current_fill_link(self, platform: str, user_id: str) -> FillLink | None:
        link_id = _s(self.r.get(self.keys.fill_link_of(f"{platform}:{user_id}")))
        return self.fill_link(link_id) if link_id else None

    def audit_fill(self, link: FillLink | None, action: str, note: str) -> None:
        """One use of a fill-in link (opened, or refused): who, for which department, what."""
        self.r.xadd(
            self.keys.audit,
            {
                "at": self.now_iso(),
                "actor": link.actor if link else "",
                "action": action,
                "department": link.department if link else "",
                "indicator": "",
                "before": "",
                "after": "",
                "note": note,
            },
            maxlen=1000000,
            approximate=True,
        )

    def set_event_date(
        self,
        key: str,
        expected: date | None,
        day: date | None,
        actor: str,
        claim: tuple[str, str] | None = None,
    ) -> None:
        """Set (or with None clear) the day of an event, compare-and-set, audited."""
        ok = self._star(
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
        ok = self._star(
            keys=[self.keys.stars, self.keys.audit, self._seen_of(claim)],
            args=[ind, enc(expected), enc(starred), self.now_iso(), actor, "star", ind, ""],
        )
        if not ok:
            raise ConflictError(f"star {indicator_id}")

    # --- audit and outbox -------------------------------------------------------------------

    def audit_len(self) -> int:
        return int(self.r.xlen(self.keys.audit))

    def audit(
        self, count: int = 100, before_id: str = "+", department: str = "", action: str = ""
    ) -> list[AuditEntry]:
        """Newest first; filters are applied after reading (the log is append-only and small)."""
        out: list[AuditEntry] = []
        cursor = before_id
        while len(out) < count:
            batch = self.r.xrevrange(self.keys.audit, max=cursor, min="-", count=max(count, 200))
            if cursor != "+" and batch and _s(batch[0][0]) == cursor:
                batch = batch[1:]
            if not batch:
                break
            for eid, f in batch:
                e = _audit_entry(eid, f)
                if department and e.department != department:
                    continue
                if action and e.action != action:
                    continue
                out.append(e)
                if len(out) >= count:
                    break
            cursor = _s(batch[-1][0])
        return out

    def outbox(self, after_id: str = "0", count: int = 100) -> list[tuple[str, Notice, str]]:
        """(entry id, notice, created at) in order, after `after_id`."""
        rows = self.r.xrange(
            self.keys.outbox, min=f"({after_id}" if after_id != "0" else "-", count=count
        )
        out = []
        for eid, f in rows:
            f = {_s(a): _s(b) for a, b in f.items()}
            mentions = tuple(m for m in f.get("mentions", "").split(",") if m)
            out.append(
                (
                    _s(eid),
                    Notice(f["text"], f.get("department", ""), mentions, f.get("kind", "notice")),
                    f.get("at", ""),
                )
            )
        return out

    def add_notices(self, notices: Iterable[Notice]) -> None:
        at = self.now_iso()
        pipe = self.r.pipeline(transaction=True)
        for n in notices:
            pipe.xadd(
                self.keys.outbox,
                {
                    "text": n.text,
                    "department": n.department,
                    "mentions": ",".join(n.mentions),
                    "kind": n.kind,
                    "at": at,
                },
            )
        pipe.execute()

    # --- web reads (admin pages, API, sandbox) ----------------------------------------------

    def audit_page(
        self,
        count: int = 100,
        before_id: str = "+",
        department: str = "",
        action: str = "",
        indicator: int | None = None,
        actor: str = "",
        max_scan: int = 20000,
    ) -> tuple[list[AuditEntry], str]:
        """Newest first, filtered; returns (entries, cursor for the next page or "" at the end).

        Scans at most `max_scan` entries per call, so a rare filter cannot read the whole log;
        the cursor then points where the scan stopped and the caller may continue from it.
        """
        out: list[AuditEntry] = []
        cursor, scanned = before_id, 0
        while len(out) < count and scanned < max_scan:
            batch = self.r.xrevrange(
                self.keys.audit, max=cursor if cursor == "+" else f"({cursor}", min="-", count=500
            )
            if not batch:
                return out, ""
            for eid, f in batch:
                scanned += 1
                cursor = _s(eid)
                e = _audit_entry(eid, f)
                if (
                    (department and e.department != department)
                    or (action and e.action != action)
                    or (indicator is not None and e.indicator != indicator)
                    or (actor and e.actor != actor)
                ):
                    continue
                out.append(e)
                if len(out) >= count:
                    break
        # a full page or a scan cut short: there may be more (an empty next page ends the walk)
        return out, cursor

    def audit_activity(
        self, after_id: str = "", batch: int = 5000
    ) -> tuple[list[tuple[str, str, str, int | None, str, str]], str]:
        """The log after `after_id` ("" = all), oldest first, as (at, actor, action, indicator,
        department, status after the change or ""), and the id of the last entry read: what the
        cockpit replays (burn-up, last activity), reading only what is new since its last look.
        The status is taken from the stored assignment JSON without decoding its materials."""
        out = []
        cursor = f"({after_id}" if after_id else "-"
        last = after_id
        while True:
            rows = self.r.xrange(self.keys.audit, min=cursor, max="+", count=batch)
            if not rows:
                return out, last
            last = _s(rows[-1][0])
            for _, f in rows:
                after = _s(f.get(b"after", b""))
                m = _STATUS_IN_JSON.search(after) if after.startswith("{") else None
                ind = _s(f.get(b"indicator", b""))
                out.append(
                    (
                        _s(f.get(b"at", b"")),
                        _s(f.get(b"actor", b"")),
                        _s(f.get(b"action", b"")),
                        int(ind) if ind.isdigit() else None,
                        _s(f.get(b"department", b"")),
                        m.group(1) if m else "",
                    )
                )
            if len(rows) < batch:
                return out, last
            cursor = f"({last}"

    # --- 催办 cool-down (handlers/remind.py; the admin's button goes through it) -------------

    def claim_reminds(self, departments: Iterable[str], at: str, rest_s: int) -> list[str]:
        """Start the cool-down of each department not already resting; the ones claimed. The
        rest is measured on the store's clock (the demo's and the tests' too); one script per
        department: two offices pressing at once push each department once."""
        depts = list(departments)
        if rest_s <= 0:
            return depts
        now_ms = int(self.clock().timestamp() * 1000)
        claim = self._script(_CLAIM_REST)
        pipe = self.r.pipeline(transaction=False)
        for d in depts:
            claim(
                keys=[self.keys.remind_cooldown(d)],
                args=[now_ms, now_ms + rest_s * 1000, at, rest_s],
                client=pipe,
            )
        return [d for d, ok in zip(depts, pipe.execute(), strict=True) if ok]

    def release_reminds(self, departments: Iterable[str], at: str) -> None:
        """Undo claim_reminds when the push could not be queued (only our own claims)."""
        release = self._script(_RELEASE_REST)
        for d in departments:
            release(keys=[self.keys.remind_cooldown(d)], args=[at])

    def remind_cooldowns(self, departments: Iterable[str]) -> dict[str, tuple[str, int]]:
        """department -> (when it was last reminded, seconds of rest left) for those resting."""
        depts = list(departments)
        vals = self.r.mget([self.keys.remind_cooldown(d) for d in depts]) if depts else []
        now_ms = int(self.clock().timestamp() * 1000)
        out = {}
        for d, v in zip(depts, vals, strict=True):
            until, _, at = _s(v).partition("|")
            if until.isdigit() and int(until) > now_ms:
                out[d] = (at, -(-(int(until) - now_ms) // 1000))
        return out

    def outbox_latest(self, count: int = 200) -> list[tuple[str, Notice, str]]:
        """The newest `count` outbox entries, newest first (same shape as `outbox`)."""
        out = []
        for eid, f in self.r.xrevrange(self.keys.outbox, count=count):
            f = {_s(a): _s(b) for a, b in f.items()}
            mentions = tuple(m for m in f.get("mentions", "").split(",") if m)
            notice = Notice(f.get("text", ""), f.get("department", ""), mentions, f.get("kind", ""))
            out.append((_s(eid), notice, f.get("at", "")))
        return out

    # --- office logins (bot/web/admin.py) ---------------------------------------------------

    def open_web_session(self, session_id: str, fingerprint: str, ttl_s: int) -> None:
        """Record a login; the cookie carries `session_id`, the store only its hash."""
        self.r.set(self.keys.web_session(_digest(session_id)), fingerprint, ex=ttl_s)

    def web_session_fingerprint(self, session_id: str) -> str:
        """The credential fingerprint a live login was made with; "" once it ended."""
        return _s(self.r.get(self.keys.web_session(_digest(session_id))))

    def close_web_session(self, session_id: str) -> None:
        self.r.delete(self.keys.web_session(_digest(session_id)))

    def reserve_login(
        self, address: str, limit: int, window_s: int, free: int, base_ms: int, max_ms: int
    ) -> tuple[str, int]:
        """One atomic step before a password is checked: ("go", 0) counts the attempt as a
        failure of `address` and of the account (a success clears both, login_succeeded), or
        ("address" | "account", wait ms) refuses it unchecked. An address gets `limit` attempts
        per `window_s`; the account, attempts from any address, `free` ones, and after that
        each one makes the next wait twice as long, from `base_ms` up to `max_ms`."""
        k = self.keys
        res = self._script(_RESERVE_LOGIN)(
            keys=[k.login(f"addr:{address}"), k.login("account"), k.login("account-wait")],
            args=[limit, window_s * 1000, free, base_ms, max_ms],
        )
        return _s(res[0]), int(res[1])

    def login_succeeded(self, address: str) -> None:
        k = self.keys
        self.r.delete(k.login(f"addr:{address}"), k.login("account"), k.login("account-wait"))

    # --- background jobs: scheduler lock and slots, sent-markers, ranking (issue 4) ----------

    def load_scripts(self) -> None:
        """Load the scripts every callback uses, so that no request pays a NOSCRIPT retry."""
        scripts = (self._preload, self._save, self._finish, self._accept, self._bind, self._star)
        for script in scripts:
            self.r.script_load(script.script)  # Script already knows its SHA

    def _script(self, source: str):
        """A registered Lua script, cached per store (EVALSHA after the first call)."""
        cache = self.__dict__.setdefault("_scripts", {})
        if source not in cache:
            cache[source] = self.r.register_script(source)
        return cache[source]

    def hold_lock(self, name: str, token: str, ttl_ms: int) -> bool:
        """Take the lock `name` for `token`, or extend it if `token` holds it; False otherwise."""
        return bool(self._script(_HOLD_LOCK)(keys=[self.keys.lock(name)], args=[token, ttl_ms]))

    def release_lock(self, name: str, token: str) -> bool:
        """Drop the lock only if `token` still holds it."""
        return bool(self._script(_RELEASE_LOCK)(keys=[self.keys.lock(name)], args=[token]))

    def lock_holder(self, name: str) -> str:
        return _s(self.r.get(self.keys.lock(name)))

    def slot_states(self, name: str, slots: list[str]) -> dict[str, str]:
        """One round trip: each slot's marker ("done:<job id>", "claimed:<token>" or "")."""
        if not slots:
            return {}
        vals = self.r.mget([self.keys.schedule(f"{name}:{s}") for s in slots])
        return {s: _s(v) for s, v in zip(slots, vals, strict=True)}

    def claim_slot(self, name: str, slot: str, token: str, ttl_s: int = 120) -> bool:
        """SET NX: only one scheduler runs a slot. The claim expires unless finished, so a
        scheduler that died between claiming and enqueueing leaves the slot to be caught up."""
        key = self.keys.schedule(f"{name}:{slot}")
        return bool(self.r.set(key, f"claimed:{token}", nx=True, ex=ttl_s))

    def finish_slot(self, name: str, slot: str, job_id: str, ttl_s: int = 3 * 86400) -> None:
        self.r.set(self.keys.schedule(f"{name}:{slot}"), f"done:{job_id}", ex=ttl_s)

    def add_notices_once(self, items: Iterable[tuple[str, Notice]], ttl_s: int = 8 * 86400) -> int:
        """Append each (marker, notice) unless its sent-marker exists; returns how many were new.

        One script: the marker (SET NX EX) and the outbox entry are written together, so a retried
        or duplicated job never posts the same notice twice.
        """
        items = list(items)
        if not items:
            return 0
        at = self.now_iso()
        keys = [self.keys.outbox, *(self.keys.marker(m) for m, _ in items)]
        args = [str(ttl_s), *_notice_args((n for _, n in items), at)]
        return int(self._script(_NOTICES_ONCE)(keys=keys, args=args))

    def clock_anchor(self, name: str, now_ts: float) -> float:
        """The real instant (epoch seconds) at which the fake clock `name` started: the first
        process to ask sets it, every later one reads it, so all read the same time."""
        key = self.keys.clock_anchor(name)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(key, repr(now_ts), nx=True).get(key)
        return float(_s(pipe.execute()[1]))

    def demo_shift(self, days: int, ttl_s: int = 7 * 86400) -> int:
        """The days the demo campaign is moved by: the first process of the week decides."""
        key = self.keys.demo_shift
        pipe = self.r.pipeline(transaction=True)
        pipe.set(key, str(days), nx=True, ex=ttl_s).get(key)
        return int(_s(pipe.execute()[1]))

    def was_sent(self, marker: str) -> bool:
        return bool(self.r.exists(self.keys.marker(marker)))

    def publish_ranking(
        self,
        marker: str,
        ranks: dict[str, int],
        notices: Iterable[Notice],
        actor: str = "system:ranking",
        ttl_s: int = 8 * 86400,
    ) -> bool:
        """Store the ranks as the last ranking and queue the ranking notices, once per marker.

        False when this marker's ranking was already published (nothing is written).
        """
        k = self.keys
        at = self.now_iso()
        flat = [x for d, r in ranks.items() for x in (d, str(r))]
        ok = self._script(_PUBLISH_RANKING)(
            keys=[k.marker(marker), k.last_ranking, k.outbox, k.audit],
            args=[str(ttl_s), at, actor, marker, str(len(ranks)), *flat]
            + _notice_args(notices, at),
        )
        return bool(ok)

    # --- submissions (报送) ----------------------------------------------------------------

    def submit_catalog(
        self,
        department: str,
        actor: str,
        notice: Notice,
        name: str = "",
        claim: tuple[str, str] | None = None,
    ) -> tuple[int, str]:
        """Freeze the department's catalogue as the next numbered version; returns (version, at).

        One script INCRs the version, copies the stored assignments and the office's ★ toggles,
        records the submission with who sent it (`name`, for the authenticity statement),
        appends the audit entry and queues `notice` ("@VERSION@" in its text becomes the number).
        """
        k = self.keys
        at = self.now_iso()
        v = self._script(_SUBMIT_CATALOG)(
            keys=[
                k.dept(department),
                k.submission_seq(department),
                k.submissions(department),
                k.submitted,
                k.audit,
                k.outbox,
                k.stars,
                self._seen_of(claim),
            ],
            args=[department, at, actor, *_notice_args([notice], at), name],
        )
        return int(v), at

    def submission(self, department: str, version: int) -> dict | None:
        """A frozen submission: version, at, actor, department, assignments {id: Assignment}."""
        if version < 1:
            return None
        raw = self.r.lindex(self.keys.submissions(department), version - 1)
        if not raw:
            return None
        d = json.loads(raw)
        items = d.get("assignments") or {}
        d["assignments"] = {
            int(i): Assignment.from_json(int(i), department, v) for i, v in items.items()
        }
        stars = d.get("stars")
        # an empty Lua table encodes as [] ; an older submission has no stars at all (None)
        d["stars"] = _star_map(stars) if isinstance(stars, dict) else ({} if stars == [] else None)
        return d

    def submission_list(self, department: str) -> list[dict]:
        """Every submission of a department (oldest first) without the frozen copy, with files."""
        pipe = self.r.pipeline(transaction=False)
        pipe.lrange(self.keys.submissions(department), 0, -1)
        pipe.hgetall(self.keys.submission_files(department))
        rows, files = pipe.execute()
        meta = {int(_s(f)): json.loads(v) for f, v in files.items()}
        out = []
        for raw in rows:
            d = json.loads(raw)
            d.pop("assignments", None)
            d.pop("stars", None)
            d.update(meta.get(int(d["version"]), {}))
            out.append(d)
        return out

    def latest_submissions(self) -> dict[str, dict]:
        """dept -> {version, at} of its latest submission (one HGETALL)."""
        return {_s(d): json.loads(v) for d, v in self.r.hgetall(self.keys.submitted).items()}

    def update_submission_files(
        self, department: str, version: int, changes: dict, actor: str, action: str
    ) -> dict:
        """Merge `changes` (file tokens, mail state) into a submission's record, audited."""
        k = self.keys
        merged = self._script(_MERGE_SUBMISSION_FILES)(
            keys=[k.submission_files(department), k.audit],
            args=[
                str(version),
                json.dumps(changes, ensure_ascii=False),
                self.now_iso(),
                actor,
                action,
                department,
            ],
        )
        return json.loads(merged)

    # --- exports (stored files served at /exports/<token>) -----------------------------------

    def put_export(
        self,
        name: str,
        data: bytes,
        ttl: int = 7 * 86400,
        *,
        department: str = "",
        kind: str = "",
        actor: str = "system:export",
    ) -> str:
        """Store a generated file for download; returns its token. ttl=0 keeps it for good."""
        token = secrets.token_urlsafe(18)
        now = self.clock()
        at = iso(now)
        expires = iso(now + timedelta(seconds=ttl)) if ttl else ""
        key = self.keys.export(token)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "name": name,
                "department": department,
                "kind": kind,
                "size": str(len(data)),
                "at": at,
                "expires": expires,
                "data": data,
            },
        )
        if ttl:
            pipe.expire(key, ttl)
        pipe.zadd(self.keys.exports, {token: int(now.timestamp() * 1000)})
        pipe.xadd(
            self.keys.audit,
            {
                "at": at,
                "actor": actor,
                "action": "export",
                "department": department,
                "indicator": "",
                "before": "",
                "after": token,
                "note": name,
            },
            maxlen=1000000,
            approximate=True,
        )
        pipe.execute()
        return token

    def get_export(self, token: str) -> tuple[str, bytes] | None:
        """(file name, bytes) of a stored export, or None when unknown or expired."""
        if not _TOKEN.fullmatch(token or ""):
            return None
        name, data = self.r.hmget(self.keys.export(token), ["name", "data"])
        if name is None or data is None:
            return None
        return _s(name), data if isinstance(data, bytes) else data.encode()

    def list_exports(self, department: str | None = None, limit: int = 200) -> list[dict]:
        """Stored exports, newest first: token, name, department, kind, size, created_at,
        expires_at ("" = kept). Entries whose file has expired are dropped from the index."""
        tokens = [_s(t) for t in self.r.zrevrange(self.keys.exports, 0, max(limit, 1) * 4 - 1)]
        if not tokens:
            return []
        fields = ["name", "department", "kind", "size", "at", "expires"]
        pipe = self.r.pipeline(transaction=False)
        for t in tokens:
            pipe.hmget(self.keys.export(t), fields)
        out, gone = [], []
        for t, vals in zip(tokens, pipe.execute(), strict=True):
            if vals[0] is None:
                gone.append(t)
                continue
            name, dept, kind, size, at, expires = (_s(v) for v in vals)
            if department is not None and dept != department:
                continue
            out.append(
                {
                    "token": t,
                    "name": name,
                    "department": dept,
                    "kind": kind,
                    "size": int(size or 0),
                    "created_at": at,
                    "expires_at": expires,
                }
            )
        if gone:
            self.r.zrem(self.keys.exports, *gone)
        return out[:limit]

    # --- outbound delivery (issue 3): outbox group, budgets, part markers, leases ----------

    def ensure_outbox_group(self, group: str) -> None:
        """Create the outbox's consumer group (from the first entry) unless it exists."""
        self._ensure_group(self.keys.outbox, group)

    def _ensure_group(self, stream: str, group: str) -> None:
        try:
            self.r.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def _read_group(
        self, stream: str, group: str, consumer: str, count: int, min_idle_ms: int
    ) -> list[tuple[str, dict[str, str]]]:
        """Entries for `consumer`: first those another consumer read and left unacknowledged
        for `min_idle_ms` (XAUTOCLAIM: it crashed), then new ones (XREADGROUP). Entries deleted
        from the stream meanwhile are acknowledged here."""
        claimed = self.r.xautoclaim(stream, group, consumer, min_idle_ms, "0-0", count=count)
        rows, gone = [], []
        for eid, f in claimed[1] if len(claimed) > 1 else []:
            (rows if f else gone).append((eid, f))
        if gone:
            self.r.xack(stream, group, *(eid for eid, _ in gone))
        if len(rows) < count:
            fresh = self.r.xreadgroup(group, consumer, {stream: ">"}, count=count - len(rows))
            for _stream, entries in fresh or []:
                rows.extend(entries)
        return [(_s(eid), {_s(a): _s(b) for a, b in f.items()}) for eid, f in rows]

    def read_outbox_group(
        self, group: str, consumer: str, count: int = 100, min_idle_ms: int = 60_000
    ) -> list[tuple[str, Notice, str]]:
        """Outbox entries for `consumer` (see _read_group)."""
        out = []
        for eid, f in self._read_group(self.keys.outbox, group, consumer, count, min_idle_ms):
            mentions = tuple(m for m in f.get("mentions", "").split(",") if m)
            notice = Notice(f.get("text", ""), f.get("department", ""), mentions, f.get("kind", ""))
            out.append((eid, notice, f.get("at", "")))
        return out

    # --- the inbox: callbacks acknowledged at once and answered by a worker -------------------

    def accept(self, platform: str, message_id: str, payload: str, ttl: int = 86400) -> bool:
        """One round trip for a callback answered later: claim its message id and queue it on
        the inbox stream, where the answering consumer's blocking read wakes up for it. False
        when a copy was accepted before (nothing queued)."""
        k = self.keys
        return bool(
            self._durable(
                self._accept, [k.seen(f"{platform}-in", message_id), k.inbox], [ttl, payload]
            )
        )

    def ensure_inbox_group(self, group: str) -> None:
        self._ensure_group(self.keys.inbox, group)

    def read_inbox(
        self, group: str, consumer: str, count: int = 50, block_ms: int | None = None
    ) -> list[tuple[str, str]]:
        """(entry id, payload) of accepted callbacks no consumer has read yet, waiting up to
        `block_ms` for one when there are none (None: not at all)."""
        fresh = self.r.xreadgroup(group, consumer, {self.keys.inbox: ">"}, count, block_ms)
        return [(_s(eid), _field(f, "msg")) for _st, rows in fresh or [] for eid, f in rows]

    def read_inbox_own(
        self, group: str, consumer: str, count: int = 50, after: str = "0"
    ) -> list[tuple[str, str]]:
        """The entries `consumer` read (or took over) and has not acknowledged, after entry id
        `after`. Entries deleted from the stream meanwhile are acknowledged here."""
        rows = self.r.xreadgroup(group, consumer, {self.keys.inbox: after}, count)
        out, gone = [], []
        for _st, entries in rows or []:
            for eid, f in entries:
                if f:
                    out.append((_s(eid), _field(f, "msg")))
                else:
                    gone.append(eid)
        if gone:
            self.r.xack(self.keys.inbox, group, *gone)
        return out

    def mark_inbox_consumer(self, consumer: str, ttl_ms: int) -> None:
        """`consumer` is alive for `ttl_ms` more: nobody takes its entries over meanwhile."""
        self.r.set(self.keys.inbox_consumer(consumer), "1", px=ttl_ms)

    def unmark_inbox_consumer(self, consumer: str) -> None:
        self.r.delete(self.keys.inbox_consumer(consumer))

    def rescue_inbox(
        self,
        group: str,
        consumer: str,
        gone_ms: int,
        reclaim_ms: int,
        orphans: set[str] | None = None,
    ) -> int:
        """Move to `consumer` what other consumers of the inbox left unanswered; how many
        entries it took. A consumer is gone (killed, or its machine died) when its liveness mark
        expired and it has not read for `gone_ms`: all its entries are taken at once and, once
        it has none, it is removed from the group. Any other entry unacknowledged for
        `reclaim_ms` (a consumer that hangs) is taken too. Two consumers rescuing at once take
        each entry once: XCLAIM's minimum idle time fails for an entry just claimed. The ids
        taken from gone consumers are added to `orphans`."""
        stream, taken = self.keys.inbox, 0
        others = [
            (_s(c["name"]), int(c["pending"]))
            for c in self.r.xinfo_consumers(stream, group)
            if _s(c["name"]) != consumer and int(c["idle"]) >= gone_ms
        ]
        if others:
            pipe = self.r.pipeline(transaction=False)
            for name, _ in others:
                pipe.exists(self.keys.inbox_consumer(name))
            marked = pipe.execute()
            for (name, pending), alive in zip(others, marked, strict=True):
                if alive:
                    continue
                if pending:
                    rows = self.r.xpending_range(stream, group, "-", "+", 1000, consumername=name)
                    ids = [r["message_id"] for r in rows]
                    claimed = self.r.xclaim(stream, group, consumer, gone_ms, ids, justid=True)
                    taken += len(claimed)
                    if orphans is not None:
                        orphans.update(_s(i) for i in claimed)
                # Removed once it holds nothing: a consumer removed with pending entries would
                # take them along, never to be read again.
                if not self.r.xpending_range(stream, group, "-", "+", 1, consumername=name):
                    self.r.xgroup_delconsumer(stream, group, name)
        stuck = self.r.xautoclaim(stream, group, consumer, reclaim_ms, "0-0", 100, justid=True)
        return taken + len(stuck)

    def done_inbox(self, group: str, entry_ids: Iterable[str]) -> None:
        """Acknowledge answered callbacks and delete them (the stream only holds open ones)."""
        ids = list(entry_ids)
        if ids:
            pipe = self.r.pipeline(transaction=True)
            pipe.xack(self.keys.inbox, group, *ids).xdel(self.keys.inbox, *ids)
            pipe.execute()

    def inbox_backlog(self) -> int:
        return int(self.r.xlen(self.keys.inbox))

    def ack_outbox(self, group: str, entry_ids: Iterable[str]) -> int:
        ids = list(entry_ids)
        return int(self.r.xack(self.keys.outbox, group, *ids)) if ids else 0

    def request_drain(self, group: str, debounce_ms: int) -> bool:
        """True (once per `debounce_ms`) when the outbox has entries the group has not read:
        the caller then enqueues one drain. One round trip, cheap enough for every callback."""
        k = self.keys
        return bool(
            self._finish(keys=["", k.outbox, k.drain_pending], args=["", 0, group, debounce_ms])
        )

    def clear_drain_request(self) -> None:
        self.r.delete(self.keys.drain_pending)

    def push_begin(
        self,
        push_id: str,
        part: int,
        robot: str,
        token: str,
        claim_ms: int,
        limit: int,
        window_ms: int,
        ttl_s: int,
    ) -> tuple[str, int]:
        """One atomic step before posting one part: its marker, the robot's cooldown and budget.

        Returns (state, wait ms): "sent" / "uncertain_known" (skip), "uncertain" (a claim whose
        deadline passed: its worker died while posting; now marked uncertain), "busy" (another
        worker is posting it), "cooldown", "budget" (no slot: wait), or "go" (a budget slot is
        taken and the part is claimed for `token` until now + claim_ms).
        """
        k = self.keys
        keys = [k.part_marker(push_id, part), k.budget(robot), k.cooldown(robot)]
        res = self._script(_PUSH_BEGIN)(keys=keys, args=[token, claim_ms, limit, window_ms, ttl_s])
        return _s(res[0]), int(res[1])

    def push_end(self, push_id: str, part: int, token: str, outcome: str, ttl_s: int) -> bool:
        """After posting a claimed part: mark it "sent" or "uncertain" (posted, no answer), or
        "release" `token`'s claim after a definite failure."""
        key = self.keys.part_marker(push_id, part)
        return bool(self._script(_PUSH_END)(keys=[key], args=[token, outcome, ttl_s]))

    def part_states(self, push_id: str, parts: Iterable[int]) -> list[str]:
        parts = list(parts)
        if not parts:
            return []
        return [_s(v) for v in self.r.mget([self.keys.part_marker(push_id, p) for p in parts])]

    def reset_parts(self, push_id: str, parts: Iterable[int]) -> int:
        """Forget the markers of these parts unless they are "sent" (an office retry)."""
        keys = [self.keys.part_marker(push_id, p) for p in parts]
        return int(self._script(_RESET_PARTS)(keys=keys, args=[])) if keys else 0

    def start_cooldown(self, robot: str, ms: int) -> None:
        self.r.set(self.keys.cooldown(robot), "1", px=max(1, ms))

    def lease_push(self, push_id: str, spec: str, until_s: float) -> None:
        """Record an unfinished push (its job kwargs) due to finish by `until_s`."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.keys.push_specs, push_id, spec)
        pipe.zadd(self.keys.push_leases, {push_id: until_s})
        pipe.execute()

    def extend_lease(self, push_id: str, until_s: float) -> None:
        self.r.zadd(self.keys.push_leases, {push_id: until_s}, xx=True)

    def release_push(self, push_id: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(self.keys.push_leases, push_id)
        pipe.hdel(self.keys.push_specs, push_id)
        pipe.execute()

    def claim_expired_pushes(
        self, now_s: float, lease_s: float, count: int = 100
    ) -> list[tuple[str, str]]:
        """(push id, spec) of pushes whose lease ran out, each leased again for `lease_s`
        in the same step, so two sweepers never both take one."""
        k = self.keys
        res = self._script(_CLAIM_EXPIRED)(
            keys=[k.push_leases, k.push_specs], args=[now_s, now_s + lease_s, count]
        )
        return [(_s(res[i]), _s(res[i + 1])) for i in range(0, len(res), 2)]

    def cached_token(self, name: str) -> str:
        return _s(self.r.get(self.keys.token_cache(name)))

    def cache_token(self, name: str, value: str, ttl_s: int) -> None:
        self.r.set(self.keys.token_cache(name), value, ex=max(1, ttl_s))

    def drop_token(self, name: str, value: str) -> None:
        """Forget a cached token the platform refused, unless another worker replaced it."""
        self._script(_RELEASE_LOCK)(keys=[self.keys.token_cache(name)], args=[value])

    def add_dead_letter(self, dead_id: str, record: dict) -> None:
        self.r.hset(self.keys.dead_letters, dead_id, json.dumps(record, ensure_ascii=False))

    def dead_letter_records(self) -> list[dict]:
        """Every dead letter, newest first."""
        rows = [json.loads(_s(v)) for v in self.r.hvals(self.keys.dead_letters)]
        return sorted(rows, key=lambda d: d.get("at", ""), reverse=True)

    def take_dead_letter(self, dead_id: str) -> dict | None:
        """Remove and return one dead letter; None if it is gone (another retry took it)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hget(self.keys.dead_letters, dead_id)
        pipe.hdel(self.keys.dead_letters, dead_id)
        raw, removed = pipe.execute()
        return json.loads(_s(raw)) if removed and raw else None

    def waiting_ages(self, delivery_group: str) -> dict[str, float]:
        """Seconds the oldest waiting piece of work has waited, by Redis's clock (0: none):
        "inbox", a callback accepted and not answered yet; "outbox", a notice that no drainer
        has taken or finished; "pushes", a push whose lease ran out and that nobody resumed."""
        k = self.keys
        res = self._script(_WAITING_AGES)(
            keys=[k.inbox, k.outbox, k.push_leases], args=[delivery_group]
        )
        names = ("inbox", "outbox", "pushes")
        return {name: max(0, int(v)) / 1000 for name, v in zip(names, res, strict=True)}

    def writes_refused(self) -> str:
        """Why Redis refuses writes now, "" if it takes them: the last AOF write or RDB save
        failed (a full or broken disk under its data directory), so every write is answered
        MISCONF until it succeeds again. Only a failed RDB save with stop-writes-on-bgsave-error
        off leaves writes open."""
        info = self.r.info("persistence")
        if info.get("aof_enabled") and info.get("aof_last_write_status") == "err":
            return "aof"
        if info.get("rdb_last_bgsave_status") == "err":
            try:
                stop = self.r.config_get("stop-writes-on-bgsave-error")
            except redis.ResponseError:  # CONFIG renamed away (a managed Redis): the default
                stop = {}
            if stop.get("stop-writes-on-bgsave-error", "yes") == "yes":
                return "rdb"
        return ""

    def has_lease(self, push_id: str) -> bool:
        """Whether a push is still unfinished (its lease was not released)."""
        return self.r.zscore(self.keys.push_leases, push_id) is not None

    def finish(self, fin: Finish) -> bool:
        """The end of a callback that changed nothing: remember the reply for redeliveries and
        say whether to queue a drain of the outbox (see request_drain). One round trip."""
        k = self.keys
        return bool(
            self._durable(
                self._finish,
                [k.seen(fin.platform, fin.message_id), k.outbox, k.drain_pending],
                [fin.reply or "\x00", fin.ttl, fin.drain_group, fin.debounce_ms],
            )
        )

    def _durable(self, script, keys: list, args: list, timeout_ms: int = 1000):
        """Run a script whose result a platform is told about. With `replicas` set, the script
        and a WAIT go in one pipeline, on one connection (WAIT counts the writes of its own
        connection), and fewer replicas than asked raise ReplicationError, a ConnectionError:
        the platform gets a 5xx and sends the callback again, and the claim keeps it from
        running twice. Without it, a failover right after an acknowledgement could lose what
        the platform was told had arrived (replication is asynchronous)."""
        if not self.replicas:
            return script(keys=keys, args=args)
        pipe = self.r.pipeline(transaction=False)
        script(keys=keys, args=args, client=pipe)
        pipe.wait(self.replicas, timeout_ms)
        result, acked = pipe.execute()
        if acked < self.replicas:
            raise ReplicationError(f"fewer than {self.replicas} replicas acknowledged a write")
        return result

    # --- backup and restore (bot/backup.py) -------------------------------------------------

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

    def dump_state(self, batch: int = 200) -> Iterable[tuple[str, int, bytes]]:
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

    def restore_state(
        self, entries: Iterable[tuple[str, int, bytes]], replace: bool = False
    ) -> int:
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

    # --- files: a file sent in chat, held for its sender until a number files it ---

    def hold_file(self, platform: str, user_id: str, entry: str, ttl_s: int) -> None:
        """Hold a file sent in chat (JSON `entry`, bot.chatfiles) for its sender, `ttl_s` long;
        a newer file replaces the one held before."""
        self.r.set(self.keys.held_file(platform, user_id), entry, ex=ttl_s)

    def held_file(self, platform: str, user_id: str) -> str | None:
        return _s(self.r.get(self.keys.held_file(platform, user_id))) or None

    def update_held_file(
        self,
        platform: str,
        user_id: str,
        expected: str,
        entry: str,
        notices: tuple[Notice, ...] = (),
    ) -> bool:
        """Compare-and-set of a held file (its download came to an end: stored or refused), with
        the notices telling its sender, in one step; the hold keeps the time it had left. False
        when the hold changed or went."""
        key = self.keys.held_file(platform, user_id)
        with self.r.pipeline() as pipe:
            try:
                pipe.watch(key)
                if _s(pipe.get(key)) != expected:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.set(key, entry, keepttl=True)
                at = self.now_iso()
                for n in notices:
                    fields = dict(
                        zip(
                            ("text", "department", "mentions", "kind", "at"),
                            _notice_args((n,), at),
                            strict=True,
                        )
                    )
                    pipe.xadd(self.keys.outbox, fields)
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    def drop_held_file(self, platform: str, user_id: str, expected: str) -> bool:
        """Let go of a held file once filed (compare-and-delete: a newer one stays)."""
        key = self.keys.held_file(platform, user_id)
        with self.r.pipeline() as pipe:
            try:
                pipe.watch(key)
                if _s(pipe.get(key)) != expected:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.delete(key)
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    # --- scale: admin pages at 1,000 departments (reads in one round trip) ---

    # KEYS: link hashes; the 1-based positions of those checked and found not working: a hash
    # that exists without ok=1, as link_states()[url]["ok"] is False.
    _DEAD_LINKS = """
local out = {}
for i, key in ipairs(KEYS) do
  local ok = redis.call('HGET', key, 'ok')
  if ok then
    if ok ~= '1' then out[#out + 1] = i end
  elseif redis.call('EXISTS', key) == 1 then
    out[#out + 1] = i
  end
end
return out
"""

    def dead_links(self, urls: Iterable[str]) -> set[str]:
        """The URLs among `urls` whose last check failed: what the cockpit counts on every view
        of the overview, in one script call instead of one HGETALL per link."""
        urls = list(dict.fromkeys(urls))
        if not urls:
            return set()
        found = self._script(self._DEAD_LINKS)(keys=[self.keys.link(u) for u in urls])
        return {urls[int(i) - 1] for i in found}

    def audit_refs(
        self, after_id: str = "", batch: int = 5000
    ) -> tuple[list[tuple[str, int | None, str]], str]:
        """(entry id, indicator, department) of the log after `after_id` ("" = all), oldest
        first, and the id of the last entry read: what a page indexes to find an indicator's or
        a department's history without scanning the log (bot/web/history.py)."""
        out: list[tuple[str, int | None, str]] = []
        cursor = f"({after_id}" if after_id else "-"
        last = after_id
        while True:
            rows = self.r.xrange(self.keys.audit, min=cursor, max="+", count=batch)
            if not rows:
                return out, last
            last = _s(rows[-1][0])
            for eid, f in rows:
                ind = _s(f.get(b"indicator", b""))
                out.append(
                    (_s(eid), int(ind) if ind.isdigit() else None, _s(f.get(b"department", b"")))
                )
            if len(rows) < batch:
                return out, last
            cursor = f"({last}"

    def audit_has(self, entry_id: str) -> bool:
        """Whether the log still holds this entry (a store emptied and refilled does not)."""
        return bool(self.r.xrange(self.keys.audit, min=entry_id, max=entry_id, count=1))

    def audit_entries(self, ids: list[str]) -> list[AuditEntry]:
        """The given entries, in the given order; those no longer in the log are left out."""
        pipe = self.r.pipeline(transaction=False)
        for eid in ids:
            pipe.xrange(self.keys.audit, min=eid, max=eid, count=1)
        return [_audit_entry(*rows[0]) for rows in (pipe.execute() if ids else []) if rows]

    # --- pushes: leases of a drain's concurrent pushes (bot/delivery.py Pusher) ---

    def lease_pushes(self, specs: dict[str, str], until_s: float) -> None:
        """lease_push for many pushes in one round trip (one MULTI): each push id's spec and
        its deadline `until_s`."""
        if not specs:
            return
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.keys.push_specs, mapping=specs)
        pipe.zadd(self.keys.push_leases, dict.fromkeys(specs, until_s))
        pipe.execute()

    def extend_leases(self, push_ids: Iterable[str], until_s: float) -> None:
        """extend_lease for many pushes in one round trip: a finished (released) push is not
        leased again, and a later deadline (a push job's, after a delay) is not shortened."""
        ids = list(push_ids)
        if ids:
            self.r.zadd(self.keys.push_leases, dict.fromkeys(ids, until_s), xx=True, gt=True)

    # --- inspect: the September inspection's marks (bot/inspection.py) ---

    def inspection_mark(self, department: str, indicator_id: int) -> tuple[str, dict | None]:
        """(the stored JSON as read, for compare-and-set; the mark as a dict or None)."""
        raw = _s(self.r.hget(self.keys.inspection(department), str(indicator_id)))
        return raw, (json.loads(raw) if raw else None)

    def inspection_marks(self, departments: Iterable[str]) -> dict[str, dict[int, dict]]:
        """Every department's marks (indicator -> mark dict), one pipelined read."""
        departments = list(departments)
        pipe = self.r.pipeline(transaction=False)
        for d in departments:
            pipe.hgetall(self.keys.inspection(d))
        return {
            d: {int(_s(k)): json.loads(_s(v)) for k, v in flat.items()}
            for d, flat in zip(departments, pipe.execute(), strict=True)
        }

    def set_inspection_mark(
        self,
        department: str,
        indicator_id: int,
        expected: str,
        mark: dict,
        actor: str,
        note: str,
    ) -> None:
        """Replace an item's mark if it is still `expected` (the JSON read, "" = none), with
        one audit entry (action `inspect`); ConflictError when it changed meanwhile."""
        new = json.dumps(mark, ensure_ascii=False, separators=(",", ":"))
        ok = self._script(_SET_INSPECTION_MARK)(
            keys=[self.keys.inspection(department), self.keys.audit],
            args=[str(indicator_id), expected, new, self.now_iso(), actor, department, note],
        )
        if not ok:
            raise ConflictError(f"inspection {department} {indicator_id}")


_SET_INSPECTION_MARK = """
-- KEYS: the department's inspection hash, audit stream
-- ARGV: indicator, expected ('' = none), new, at, actor, department, note
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000000, '*', 'at', ARGV[4], 'actor', ARGV[5],
  'action', 'inspect', 'department', ARGV[6], 'indicator', ARGV[1], 'before', cur,
  'after', ARGV[3], 'note', ARGV[7])
return 1
"""


class ReplicationError(redis.ConnectionError):
    """A write that did not reach DUBAN_REDIS_MIN_REPLICAS replicas in time."""


class StateError(Exception):
    """A restore into a store that already holds state (and was not asked to replace it)."""

    def __init__(self, count: int):
        super().__init__(f"the store already holds {count} keys")
        self.count = count


# Relative key prefixes a backup leaves out (see RedisStore.state_keys).
_NOT_BACKED_UP = ("lock:", "websess:", "login:", "dlv:token:")


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


# b"lead:todo" -> (Role.LEAD, Status.TODO): the values of the status hashes, parsed once.
_ROLE_STATUS = {
    f"{r.value}:{s.value}".encode(): (r, s) for r in Role for s in Status
}  # fmt: skip


def _role_status(v: bytes | str) -> tuple[Role, Status]:
    return _ROLE_STATUS[v if isinstance(v, bytes) else v.encode()]


# The last `status` hash parsed in this process and what it parsed to. 进度, 排行 and the admin
# pages read the whole hash (thousands of fields for a province) and most reads find it as the
# last one left it: comparing two dicts of bytes is far cheaper than parsing one again.
_LAST_STATUSES: tuple[dict, Mapping] = ({}, MappingProxyType({}))
# (field, value) -> its parse: a changed hash differs from the last in a few fields only
_STATUS_PAIRS: dict[tuple, tuple] = {}


def _parse_statuses(raw: dict) -> Mapping[tuple[int, str], tuple[Role, Status]]:
    """The `status` hash as {(indicator, department): (role, status)}, read-only: the same
    object is handed to every caller while the hash does not change (see compute_scores)."""
    global _LAST_STATUSES
    last_raw, last = _LAST_STATUSES
    if raw == last_raw:
        return last
    if len(_STATUS_PAIRS) > 4 * len(raw) + 1000:  # fields and states of long ago
        _STATUS_PAIRS.clear()
    out = {}
    for pair in raw.items():
        known = _STATUS_PAIRS.get(pair)
        if known is None:
            ind, _, dept = _s(pair[0]).partition("|")
            known = _STATUS_PAIRS[pair] = ((int(ind), dept), _role_status(pair[1]))
        out[known[0]] = known[1]
    parsed = MappingProxyType(out)
    _LAST_STATUSES = (raw, parsed)
    return parsed


def _task_states(flat: list) -> dict[int, TaskState]:
    out: dict[int, TaskState] = {}
    for i in range(0, len(flat), 3):
        ind = int(flat[i])
        role, status = _role_status(flat[i + 1])
        full = json.loads(flat[i + 2]) if flat[i + 2] else {}
        out[ind] = TaskState(ind, role, status, full.get("reason", ""), full.get("due", ""))
    return out


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


def _event_dates(flat) -> dict[str, date]:
    items = zip(flat[::2], flat[1::2], strict=True) if isinstance(flat, list) else flat.items()
    return {_s(k): date.fromisoformat(_s(v)) for k, v in items}


def _star_map(flat) -> dict[int, bool]:
    if isinstance(flat, dict):
        items = flat.items()
    else:
        items = zip(flat[::2], flat[1::2], strict=True)
    return {int(_s(k)): _s(v) == "1" for k, v in items}


def _audit_entry(eid, fields) -> AuditEntry:
    f = {_s(a): _s(b) for a, b in fields.items()}
    ind = f.get("indicator", "")
    return AuditEntry(
        id=_s(eid),
        at=f.get("at", ""),
        actor=f.get("actor", ""),
        action=f.get("action", ""),
        department=f.get("department", ""),
        indicator=int(ind) if ind else None,
        before=f.get("before", ""),
        after=f.get("after", ""),
        note=f.get("note", ""),
    )


# --- scripts of the background jobs (issue 4) ------------------------------------------------

# A material's link in an assignment's JSON; a quote inside any text is escaped (\\"), so
# nothing people wrote can look like this.
_URL_IN_JSON = re.compile(r'"url":"((?:[^"\\]|\\.)+)"')
_STATUS_IN_JSON = re.compile(r'"status":"([a-z_]+)"')  # first one: the assignment's own

_CLAIM_REST = """
-- KEYS: a department's 催办 rest; ARGV: now ms, until ms, at (ISO), expiry s.
-- The value is "until|at"; a rest still running refuses the claim.
local v = redis.call('GET', KEYS[1])
if v then
  local u = tonumber(string.match(v, '^(%d+)|'))
  if u and u > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[3], 'EX', ARGV[4])
return 1
"""

_RELEASE_REST = """
-- KEYS: a department's 催办 rest; ARGV: at. Delete it only if that claim still holds it.
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, -string.len(ARGV[1])) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")

_HOLD_LOCK = """
-- KEYS: lock; ARGV: token, ttl ms. Take the lock, or extend it if this token holds it.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE_LOCK = """
-- KEYS: lock; ARGV: token
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_NOTICES_ONCE = """
-- KEYS: outbox, then one sent-marker per notice; ARGV: ttl s, then 5 fields per notice
local n = 0
for k = 2, #KEYS do
  local i = 2 + (k - 2) * 5
  if redis.call('SET', KEYS[k], ARGV[i + 4], 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[1], '*', 'text', ARGV[i], 'department', ARGV[i + 1],
      'mentions', ARGV[i + 2], 'kind', ARGV[i + 3], 'at', ARGV[i + 4])
    n = n + 1
  end
end
return n
"""

_PUBLISH_RANKING = """
-- KEYS: sent-marker, last ranking hash, outbox stream, audit stream
-- ARGV: ttl s, at, actor, marker name, n ranks, (dept, rank)..., then 5 fields per notice
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('DEL', KEYS[2])
local n = tonumber(ARGV[5])
local i = 6
for _ = 1, n do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local sent = 0
while i <= #ARGV do
  redis.call('XADD', KEYS[3], '*', 'text', ARGV[i], 'department', ARGV[i + 1],
    'mentions', ARGV[i + 2], 'kind', ARGV[i + 3], 'at', ARGV[i + 4])
  i = i + 5
  sent = sent + 1
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', 1000000, '*', 'at', ARGV[2], 'actor', ARGV[3],
  'action', 'ranking', 'department', '', 'indicator', '', 'before', '', 'after', ARGV[5],
  'note', ARGV[4] .. ' (' .. sent .. ' notices)')
return 1
"""

_SUBMIT_CATALOG = (
    _LUA_HOLD
    + """
-- KEYS: dept hash, version counter, submissions list, submitted hash, audit, outbox, stars,
--       the callback's seen key ('' = none)
-- ARGV: department, at, actor, then the office notice (5 fields; '@VERSION@' is replaced),
--       the sender's name
local v = redis.call('INCR', KEYS[2])
local flat = redis.call('HGETALL', KEYS[1])
local items = {}
for i = 1, #flat, 2 do items[flat[i]] = flat[i + 1] end
local stars = {}
local sflat = redis.call('HGETALL', KEYS[7])
for i = 1, #sflat, 2 do stars[sflat[i]] = sflat[i + 1] end
local entry = cjson.encode({version = v, at = ARGV[2], actor = ARGV[3], name = ARGV[9],
  department = ARGV[1], assignments = items, stars = stars})
redis.call('RPUSH', KEYS[3], entry)
redis.call('HSET', KEYS[4], ARGV[1], cjson.encode({version = v, at = ARGV[2]}))
redis.call('XADD', KEYS[5], 'MAXLEN', '~', 1000000, '*', 'at', ARGV[2], 'actor', ARGV[3],
  'action', 'submit_catalog', 'department', ARGV[1], 'indicator', '', 'before', '',
  'after', tostring(v), 'note', #flat / 2 .. ' assignments')
local text = string.gsub(ARGV[4], '@VERSION@', tostring(v))
redis.call('XADD', KEYS[6], '*', 'text', text, 'department', ARGV[5], 'mentions', ARGV[6],
  'kind', ARGV[7], 'at', ARGV[8])
hold(KEYS[8])
return v
"""
)

_MERGE_SUBMISSION_FILES = """
-- KEYS: submission files hash, audit; ARGV: version, changes JSON, at, actor, action, dept
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local d = {}
if cur then d = cjson.decode(cur) end
for key, val in pairs(cjson.decode(ARGV[2])) do d[key] = val end
local after = cjson.encode(d)
redis.call('HSET', KEYS[1], ARGV[1], after)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000000, '*', 'at', ARGV[3], 'actor', ARGV[4],
  'action', ARGV[5], 'department', ARGV[6], 'indicator', '', 'before', cur or '',
  'after', after, 'note', 'version ' .. ARGV[1])
return after
"""


# --- scripts of outbound delivery (issue 3) ---------------------------------------------------

_PUSH_BEGIN = """
-- KEYS: part marker, robot budget (sorted set of slot times), robot cooldown
-- ARGV: token, claim ms, limit, window ms, marker ttl s. Redis's clock is every worker's clock.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('GET', KEYS[1])
if cur == 'sent' then return {'sent', 0} end
if cur == 'uncertain' then return {'uncertain_known', 0} end
if cur then
  local deadline = tonumber(string.match(cur, ':(%d+)$'))
  if deadline and now < deadline then return {'busy', deadline - now} end
  redis.call('SET', KEYS[1], 'uncertain', 'EX', ARGV[5])
  return {'uncertain', 0}
end
local cool = redis.call('PTTL', KEYS[3])
if cool > 0 then return {'cooldown', cool} end
local window = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {'budget', tonumber(oldest[2]) + window - now + 1}
end
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('PEXPIRE', KEYS[2], window + 1000)
redis.call('SET', KEYS[1], 'sending:' .. ARGV[1] .. ':' .. string.format('%d', now + tonumber(ARGV[2])),
  'EX', ARGV[5])
return {'go', 0}
"""

_PUSH_END = """
-- KEYS: part marker; ARGV: token, 'sent' | 'uncertain' | 'release', ttl s
local cur = redis.call('GET', KEYS[1])
local prefix = 'sending:' .. ARGV[1] .. ':'
local mine = cur and string.sub(cur, 1, #prefix) == prefix
if ARGV[2] == 'sent' then
  redis.call('SET', KEYS[1], 'sent', 'EX', ARGV[3])
  if mine then return 1 end
  return 0
end
if ARGV[2] == 'uncertain' then
  if cur == 'sent' then return 0 end
  redis.call('SET', KEYS[1], 'uncertain', 'EX', ARGV[3])
  if mine then return 1 end
  return 0
end
if mine then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

_RESET_PARTS = """
-- KEYS: part markers. Delete each unless it says 'sent'.
local n = 0
for _, key in ipairs(KEYS) do
  local cur = redis.call('GET', key)
  if cur and cur ~= 'sent' then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
"""

_CLAIM_EXPIRED = """
-- KEYS: lease sorted set, spec hash; ARGV: now s, new deadline s, count
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(ids) do
  local spec = redis.call('HGET', KEYS[2], id)
  if spec then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = spec
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""

_WAITING_AGES = """
-- KEYS: inbox stream, outbox stream, push lease sorted set; ARGV: the outbox's consumer group
-- Returns the ages in ms of the oldest unanswered callback, the oldest notice the group has not
-- read or not acknowledged, and the push lease that ran out longest ago (0 for none).
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function age(id)
  return now_ms - tonumber(string.match(id, '^(%d+)'))
end
local inbox, outbox, pushes = 0, 0, 0
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first > 0 then inbox = age(first[1][1]) end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local last, found = '0-0', false
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[2])) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    if f['name'] == ARGV[1] then last, found = f['last-delivered-id'], true end
  end
  local unread = redis.call('XRANGE', KEYS[2], '(' .. last, '+', 'COUNT', 1)
  if #unread > 0 then outbox = age(unread[1][1]) end
  if found then
    local p = redis.call('XPENDING', KEYS[2], ARGV[1])
    if tonumber(p[1]) > 0 then outbox = math.max(outbox, age(p[2])) end
  end
end
local lease = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if #lease > 0 then pushes = now_ms - math.floor(tonumber(lease[2]) * 1000) end
return {inbox, outbox, pushes}
"""
