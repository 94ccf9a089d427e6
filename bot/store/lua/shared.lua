-- Prepended to every script of the store (bot/store/scripts.py): the layouts of an audit entry
-- and of a notice are written here and nowhere else.

-- One audit entry (bot.records.AuditEntry reads these fields). The log keeps about a million.
local function audit(stream, at, actor, action, department, indicator, before, after, note)
  redis.call('XADD', stream, 'MAXLEN', '~', 1000000, '*', 'at', at, 'actor', actor,
    'action', action, 'department', department, 'indicator', indicator, 'before', before,
    'after', after, 'note', note)
end

-- One notice waiting on the outbox to be pushed (bot.messages.Notice).
local function notice(outbox, text, department, mentions, kind, at)
  redis.call('XADD', outbox, '*', 'text', text, 'department', department,
    'mentions', mentions, 'kind', kind, 'at', at)
end

-- n notices (5 fields each) from ARGV[i..] onto `outbox`; returns the next ARGV index.
local function add_notices(outbox, n, i)
  for _ = 1, n do
    notice(outbox, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
    i = i + 5
  end
  return i
end

-- Whether a key argument names a key: a script is handed Keys.none (its name ends in a NUL byte,
-- in the script's own cluster slot) or '' for "no key", e.g. a command that is no callback.
local function given(key)
  return key ~= '' and string.byte(key, -1) ~= 0
end

-- A callback's message id is claimed for CLAIM_TTL_S only, so that a claim whose command never
-- committed (Redis failed for the save and for the release both) frees itself. The script that
-- commits the command's effect makes the claim last the dedupe window. '' = not a callback.
local function hold(seen)
  if given(seen) then redis.call('EXPIRE', seen, @SEEN_TTL_S@) end
end

-- The end of a callback: store the reply for redeliveries under the message's seen key, and
-- return 1 when the outbox holds entries `group` has not read and no drain was requested within
-- `debounce` ms (the caller then queues one drain). `seen` = '' skips the reply.
local function finish(seen, reply, ttl, outbox, pending, group, debounce)
  if given(seen) then redis.call('SET', seen, reply, 'EX', ttl) end
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

