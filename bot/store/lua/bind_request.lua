-- A 绑定 waiting for the office (Settings.bind_approval): asked, approved or refused in one step.
-- KEYS: requests hash, bindings hash, audit stream, outbox stream, the callback's seen key
-- ARGV: field, expected request, new request ('' = delete), expected binding, new binding
--       ('' = the binding stays as it is), at, actor, action, department, note, n_notices,
--       notices...
-- Returns 0 on a conflict (the request or the binding changed meanwhile), 1 when done.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return 0 end
if ARGV[5] ~= '' then
  local b = redis.call('HGET', KEYS[2], ARGV[1])
  if not b then b = '' end
  if b ~= ARGV[4] then return 0 end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
  audit(KEYS[3], ARGV[6], ARGV[7], 'bind', ARGV[9], '', b, ARGV[5], '')
end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
audit(KEYS[3], ARGV[6], ARGV[7], ARGV[8], ARGV[9], '', cur, ARGV[3], ARGV[10])
hold(KEYS[5])
add_notices(KEYS[4], tonumber(ARGV[11]), 12)
return 1
