-- KEYS: submission files hash, audit; ARGV: version, changes JSON, at, actor, action, dept
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local d = {}
if cur then d = cjson.decode(cur) end
for key, val in pairs(cjson.decode(ARGV[2])) do d[key] = val end
local after = cjson.encode(d)
redis.call('HSET', KEYS[1], ARGV[1], after)
audit(KEYS[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], '', cur or '', after, 'version ' .. ARGV[1])
return after
