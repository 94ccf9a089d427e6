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
