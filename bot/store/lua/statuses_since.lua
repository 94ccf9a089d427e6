-- KEYS: the status hash, its change log (stream: f "ind|dept", v "role:status", '' = gone)
-- ARGV: the log entry a reader applied last ('' = none), the most changes it takes
-- Returns {the log's last entry id, 0, field, value, ...}: the changes after
-- ARGV[1], oldest first; or {id, 1} when the reader must read the whole hash: it has read
-- nothing yet, or its entry is no longer in the log (trimmed, the log deleted by a sync or a
-- restore), or more changes than it takes came since. A missing log is begun here.
local tail = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local last = ''
if #tail > 0 then last = tail[1][1] end
if last == '' then  -- a log to read from next time, begun now (an entry of no field)
  return {redis.call('XADD', KEYS[2], '*', 'f', '', 'v', ''), 1}
end
if ARGV[1] == '' then return {last, 1} end
if ARGV[1] == last then return {last, 0} end
if #redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1]) == 0 then return {last, 1} end
local rows = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
if #rows >= tonumber(ARGV[2]) then return {last, 1} end
local out = {last, 0}
for _, e in ipairs(rows) do
  out[#out + 1] = e[2][2]
  out[#out + 1] = e[2][4]
end
return out
