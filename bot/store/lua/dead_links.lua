-- KEYS: link hashes. Returns the 1-based positions of those checked and found not working: a
-- hash that exists without ok=1, as LinkChecks.states()[url]["ok"] is False.
local out = {}
for i, key in ipairs(KEYS) do
  local ok = redis.call('HGET', key, 'ok')
  if ok then
    if ok ~= '1' then out[#out + 1] = i end
  elseif redis.call('EXISTS', key) == 1 then
    out[#out + 1] = i
  end
end
return out
