-- KEYS: outbox, then one sent-marker per notice; ARGV: ttl s, then 5 fields per notice
local n = 0
for k = 2, #KEYS do
  local i = 2 + (k - 2) * 5
  if redis.call('SET', KEYS[k], ARGV[i + 4], 'NX', 'EX', ARGV[1]) then
    notice(KEYS[1], ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
    n = n + 1
  end
end
return n
