-- KEYS: part markers. Delete each unless it says 'sent'.
local n = 0
for _, key in ipairs(KEYS) do
  local cur = redis.call('GET', key)
  if cur and cur ~= 'sent' then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
