-- KEYS: part marker; ARGV: token, 'sent' | 'uncertain' | 'release', ttl s
local cur = redis.call('GET', KEYS[1])
local prefix = 'sending:' .. ARGV[1] .. ':'
local mine = cur and string.sub(cur, 1, #prefix) == prefix
if ARGV[2] == 'sent' then
  redis.call('SET', KEYS[1], 'sent', 'EX', ARGV[3])
  if mine then return 1 end
  return 0
end
if ARGV[2] == 'uncertain' then
  if cur == 'sent' then return 0 end
  redis.call('SET', KEYS[1], 'uncertain', 'EX', ARGV[3])
  if mine then return 1 end
  return 0
end
if mine then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
