-- KEYS: seen key, outbox stream, drain-pending flag [, the reply's first part: marker, budget,
--       cooldown]; ARGV: reply, ttl, group, debounce ms [, token, claim ms, limit, window ms,
--       marker ttl s]. Returns the drain flag, or {flag, state, wait ms} with the part's claim.
return then_begin(finish(KEYS[1], ARGV[1], ARGV[2], KEYS[2], KEYS[3], ARGV[3], ARGV[4]), 4, 5)
