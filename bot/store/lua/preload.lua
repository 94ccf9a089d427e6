-- KEYS: bindings hash, stars hash, seen key (Keys.none = no claim), event dates hash,
--       chat-member marker (Keys.none = not written in a department's own group)
-- ARGV: field, dept key prefix, undo key prefix,
--       ind ('' = all of the department, '-' = none, '*' = its role:status per indicator),
--       seen ttl, department status-hash prefix, the group's department ('' = none),
--       marker ttl
-- A callback claims its message id first: {0, stored reply} when it was claimed before.
-- Otherwise {binding or false, stars, event dates, via, state...}: without a binding, a message
-- in a department's own group acts for that department (via 1, or 2 the first time).
if given(KEYS[3]) and not redis.call('SET', KEYS[3], '', 'NX', 'EX', ARGV[5]) then
  return {0, redis.call('GET', KEYS[3]) or ''}
end
local b = redis.call('HGET', KEYS[1], ARGV[1])
local head = {b, redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[4]), 0}
local dept
if b then
  dept = cjson.decode(b)['department']
elseif ARGV[7] ~= '' then
  dept = ARGV[7]
  head[4] = 1
  if redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[8]) then head[4] = 2 end
else
  return head
end
if ARGV[4] == '-' then return head end
if ARGV[4] == '*' then
  local flat = redis.call('HGETALL', ARGV[6] .. dept)
  local out = {}
  for i = 1, #flat, 2 do
    local raw = ''
    if string.sub(flat[i + 1], -9) == ':returned' then
      raw = redis.call('HGET', ARGV[2] .. dept, flat[i]) or ''
    end
    out[#out + 1] = flat[i]
    out[#out + 1] = flat[i + 1]
    out[#out + 1] = raw
  end
  head[5] = out
  return head
end
if ARGV[4] == '' then
  head[5] = redis.call('HGETALL', ARGV[2] .. dept)
  return head
end
local a = redis.call('HGET', ARGV[2] .. dept, ARGV[4])
head[5] = {ARGV[4], a or ''}
head[6] = redis.call('LINDEX', ARGV[3] .. dept .. ':' .. ARGV[4], 0) or ''
return head
