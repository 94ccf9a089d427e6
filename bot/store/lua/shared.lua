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


-- One part of a push claimed before it is posted (bot/store/delivery.py push_begin): its marker,
-- the robot's cooldown and budget, in one step; returns {state, wait ms}. Keys: the part's
-- marker, the robot's budget (sorted set of slot times), its cooldown; args: token, claim ms,
-- limit, window ms, marker ttl s. Redis's clock is every worker's clock. A callback's reply
-- takes its first part's claim in the script that stores it (finish, save_assignment).
local function begin_part(marker, budget, cooldown, token, claim_ms, limit, window, ttl)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local cur = redis.call('GET', marker)
  if cur == 'sent' then return {'sent', 0} end
  if cur == 'uncertain' then return {'uncertain_known', 0} end
  if cur then
    local deadline = tonumber(string.match(cur, ':(%d+)$'))
    if deadline and now < deadline then return {'busy', deadline - now} end
    redis.call('SET', marker, 'uncertain', 'EX', ttl)
    return {'uncertain', 0}
  end
  local cool = redis.call('PTTL', cooldown)
  if cool > 0 then return {'cooldown', cool} end
  window = tonumber(window)
  redis.call('ZREMRANGEBYSCORE', budget, '-inf', now - window)
  if redis.call('ZCARD', budget) >= tonumber(limit) then
    local oldest = redis.call('ZRANGE', budget, 0, 0, 'WITHSCORES')
    return {'budget', tonumber(oldest[2]) + window - now + 1}
  end
  redis.call('ZADD', budget, now, token)
  redis.call('PEXPIRE', budget, window + 1000)
  redis.call('SET', marker, 'sending:' .. token .. ':' .. string.format('%d', now + tonumber(claim_ms)),
    'EX', ttl)
  return {'go', 0}
end

-- finish's result, with a reply's first part claimed (begin_part) when its keys are given from
-- key `k` and its args from ARGV[a] on: {result, state, wait ms}; else the result alone.
local function then_begin(result, k, a)
  if #KEYS < k then return result end
  local b = begin_part(KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[a], ARGV[a + 1], ARGV[a + 2],
    ARGV[a + 3], ARGV[a + 4])
  return {result, b[1], b[2]}
end
