-- KEYS: a department's 催办 rest; ARGV: at. Delete it only if that claim still holds it.
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, -string.len(ARGV[1])) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
