-- KEYS: dept hash, version counter, submissions list, submitted hash, audit, outbox, stars,
--       the callback's seen key (none: Keys.none)
-- ARGV: department, at, actor, then the office notice (5 fields; '@VERSION@' is replaced),
--       the sender's name
local v = redis.call('INCR', KEYS[2])
local flat = redis.call('HGETALL', KEYS[1])
local items = {}
for i = 1, #flat, 2 do items[flat[i]] = flat[i + 1] end
local stars = {}
local sflat = redis.call('HGETALL', KEYS[7])
for i = 1, #sflat, 2 do stars[sflat[i]] = sflat[i + 1] end
local entry = cjson.encode({version = v, at = ARGV[2], actor = ARGV[3], name = ARGV[9],
  department = ARGV[1], assignments = items, stars = stars})
redis.call('RPUSH', KEYS[3], entry)
redis.call('HSET', KEYS[4], ARGV[1], cjson.encode({version = v, at = ARGV[2]}))
audit(KEYS[5], ARGV[2], ARGV[3], 'submit_catalog', ARGV[1], '', '', tostring(v), #flat / 2 .. ' assignments')
local text = string.gsub(ARGV[4], '@VERSION@', tostring(v))
notice(KEYS[6], text, ARGV[5], ARGV[6], ARGV[7], ARGV[8])
hold(KEYS[8])
return v
