-- KEYS: sent-marker, last ranking hash, outbox stream, audit stream
-- ARGV: ttl s, at, actor, marker name, n ranks, (dept, rank)..., then 5 fields per notice
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('DEL', KEYS[2])
local n = tonumber(ARGV[5])
local i = 6
for _ = 1, n do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local sent = 0
while i <= #ARGV do
  notice(KEYS[3], ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
  i = i + 5
  sent = sent + 1
end
audit(KEYS[4], ARGV[2], ARGV[3], 'ranking', '', '', '', ARGV[5], ARGV[4] .. ' (' .. sent .. ' notices)')
return 1
