-- One field of a settings hash (the office's ★ toggles, event dates), compare-and-set, audited.
-- KEYS: the hash, audit stream, the callback's seen key (none: Keys.none)
-- ARGV: field, expected ('' = unset), new ('' = delete), at, actor, action, indicator, note
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
audit(KEYS[2], ARGV[4], ARGV[5], ARGV[6], '', ARGV[7], cur, ARGV[3], ARGV[8])
hold(KEYS[3])
return 1
