-- KEYS: the person's fill-in link pointer, the prefix of link records, the audit stream
-- ARGV: new id, platform, user, department, name, expires (epoch s), ttl s, at, actor, note
-- The person's link before this one is revoked in the same step.
local old = redis.call('GET', KEYS[1])
if old then redis.call('DEL', KEYS[2] .. old) end
local key = KEYS[2] .. ARGV[1]
redis.call('HSET', key, 'platform', ARGV[2], 'user', ARGV[3], 'department', ARGV[4],
  'name', ARGV[5], 'expires', ARGV[6])
redis.call('EXPIRE', key, ARGV[7])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[7])
audit(KEYS[3], ARGV[8], ARGV[9], 'fill_link', ARGV[4], '', '', '', ARGV[10])
return 1
