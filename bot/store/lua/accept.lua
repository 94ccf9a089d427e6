-- KEYS: seen key of the accepted copy, inbox stream; ARGV: ttl s, payload
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], '*', 'msg', ARGV[2])
return 1
