-- begin: the fast duplicate check, the lock and the authoritative check in one
-- atomic step on one Redis instance. Because the completion check runs inside the
-- same script that grants the lease, no second check under the lock is needed.
--
-- KEYS[1] completion record   (<prefix>:done:<id>)
-- KEYS[2] lock                (<prefix>:lock:<id>)
-- KEYS[3] grant counter       (<prefix>:fence:<id>)
-- ARGV[1] lease token (random, unique to this grant)
-- ARGV[2] lease length, ms
-- ARGV[3] grant counter lifetime, ms (the dedup window)
-- returns {0, record}  the id is complete: record is the completion record
--         {1, fence}   lease granted: fence is the new value of the grant counter
--         {2, pttl}    another lease holds the id for pttl more ms
local record = redis.call('GET', KEYS[1])
if record then
  return {0, record}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local fence = redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
  return {1, fence}
end
return {2, redis.call('PTTL', KEYS[2])}
