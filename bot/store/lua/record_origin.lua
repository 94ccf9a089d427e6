-- KEYS: origin, status hash; ARGV: the mode of a store that is empty now
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
local origin = ARGV[1]
if redis.call('EXISTS', KEYS[2]) == 1 then origin = 'live' end
redis.call('SET', KEYS[1], origin)
return origin
