-- KEYS: the departments' 催办 rests (one campaign: one slot); ARGV: now ms, until ms, at (ISO),
-- expiry s. The value is "until|at"; a rest still running refuses the claim of its department.
-- Returns 1 or 0 per key, in order.
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = 0
  local v = redis.call('GET', key)
  local u = v and tonumber(string.match(v, '^(%d+)|'))
  if not (u and u > tonumber(ARGV[1])) then
    redis.call('SET', key, ARGV[2] .. '|' .. ARGV[3], 'EX', ARGV[4])
    out[i] = 1
  end
end
return out
