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
