-- KEYS: inbox stream, outbox stream, push lease sorted set; ARGV: the outbox's consumer group
-- Returns the ages in ms of the oldest unanswered callback, the oldest notice the group has not
-- read or not acknowledged, and the push lease that ran out longest ago (0 for none).
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function age(id)
  return now_ms - tonumber(string.match(id, '^(%d+)'))
end
local inbox, outbox, pushes = 0, 0, 0
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first > 0 then inbox = age(first[1][1]) end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local last, found = '0-0', false
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[2])) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    if f['name'] == ARGV[1] then last, found = f['last-delivered-id'], true end
  end
  local unread = redis.call('XRANGE', KEYS[2], '(' .. last, '+', 'COUNT', 1)
  if #unread > 0 then outbox = age(unread[1][1]) end
  if found then
    local p = redis.call('XPENDING', KEYS[2], ARGV[1])
    if tonumber(p[1]) > 0 then outbox = math.max(outbox, age(p[2])) end
  end
end
local lease = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if #lease > 0 then pushes = now_ms - math.floor(tonumber(lease[2]) * 1000) end
return {inbox, outbox, pushes}
