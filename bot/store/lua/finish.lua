-- KEYS: seen key, outbox stream, drain-pending flag; ARGV: reply, ttl, group, debounce ms
return finish(KEYS[1], ARGV[1], ARGV[2], KEYS[2], KEYS[3], ARGV[3], ARGV[4])
