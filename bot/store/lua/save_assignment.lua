-- KEYS: dept hash, status hash, undo list, audit stream, reached hash, outbox stream, link queue,
--       seen key (Keys.none = not a callback), drain-pending flag, the department's status hash,
--       the status hash's change log (a changed status is appended: Assignments.statuses)
--       [, the reply's first part: marker, budget, cooldown (then_begin)]
-- ARGV: ind, dept, expected, new, statusval, undo_mode, undo_entry, reached_at,
--       at, actor, action, note, reply, reply ttl, drain group ('' = no drain check),
--       debounce ms, the part's claim (token, claim ms, limit, window ms, marker ttl s; '' each
--       without it), n_notices, notice fields (5 each)..., then link urls
-- Returns 0 on a conflict, else 1 + 1 if a drain of the outbox should be queued; with the
-- part's keys, {that, state, wait ms}.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
local field = ARGV[1] .. '|' .. ARGV[2]
if redis.call('HGET', KEYS[2], field) ~= ARGV[5] then
  redis.call('HSET', KEYS[2], field, ARGV[5])
  redis.call('XADD', KEYS[11], 'MAXLEN', '~', 1000, '*', 'f', field, 'v', ARGV[5])
end
redis.call('HSET', KEYS[10], ARGV[1], ARGV[5])
if ARGV[6] == 'push' then
  redis.call('LPUSH', KEYS[3], ARGV[7])
  redis.call('LTRIM', KEYS[3], 0, 19)
elseif ARGV[6] == 'pop' then
  redis.call('LPOP', KEYS[3])
end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[5], ARGV[2], ARGV[8]) end
audit(KEYS[4], ARGV[9], ARGV[10], ARGV[11], ARGV[2], ARGV[1], cur, ARGV[4], ARGV[12])
local i = add_notices(KEYS[6], tonumber(ARGV[22]), 23)
while i <= #ARGV do
  redis.call('SADD', KEYS[7], ARGV[i])
  i = i + 1
end
return then_begin(1 + finish(KEYS[8], ARGV[13], ARGV[14], KEYS[6], KEYS[9], ARGV[15], ARGV[16]),
  12, 17)
