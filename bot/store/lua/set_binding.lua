-- KEYS: bindings hash, audit stream, outbox stream, the person's fold hash, the folds due,
--       the callback's seen key (none: Keys.none), the person's fill-in link pointer, the prefix of
--       fill-in link records
-- ARGV: field, expected, new ('' = delete), at, actor, action, department, fold window ms
--       (0 = announce every change), display name, n_notices, notices...
-- Returns 0 on a conflict, 1 when the notices were queued, 2 when they were folded.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
audit(KEYS[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7], '', cur, ARGV[3], '')
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
