-- KEYS: part marker, robot budget (sorted set of slot times), robot cooldown
-- ARGV: token, claim ms, limit, window ms, marker ttl s (begin_part, shared.lua)
return begin_part(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
