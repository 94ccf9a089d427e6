-- One comment in a department × indicator thread, audited, its notices queued.
-- KEYS: the thread list, audit stream, outbox stream, the callback's seen key (none: Keys.none)
-- ARGV: comment JSON, at, actor, department, indicator, text, n_notices, notices...
redis.call('RPUSH', KEYS[1], ARGV[1])
audit(KEYS[2], ARGV[2], ARGV[3], 'comment', ARGV[4], ARGV[5], '', '', ARGV[6])
hold(KEYS[4])
add_notices(KEYS[3], tonumber(ARGV[7]), 8)
return 1
