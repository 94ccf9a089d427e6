-- KEYS: seen key. A claim in progress is ''; anything else is a stored reply.
if redis.call('GET', KEYS[1]) == '' then return redis.call('DEL', KEYS[1]) end
return 0
