-- KEYS: a department's 催办 rest; ARGV: now ms, until ms, at (ISO), expiry s.
-- The value is "until|at"; a rest still running refuses the claim.
local v = redis.call('GET', KEYS[1])
if v then
  local u = tonumber(string.match(v, '^(%d+)|'))
  if u and u > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[3], 'EX', ARGV[4])
return 1
