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
