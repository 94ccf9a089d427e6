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
