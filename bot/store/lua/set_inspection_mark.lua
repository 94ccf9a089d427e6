-- An inspection mark replaced if it is still what the inspector saw, with its audit entry.
-- KEYS: the department's inspection hash, audit stream
-- ARGV: indicator, expected ('' = none), new, at, actor, department, note
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
audit(KEYS[2], ARGV[4], ARGV[5], 'inspect', ARGV[6], ARGV[1], cur, ARGV[3], ARGV[7])
return 1
