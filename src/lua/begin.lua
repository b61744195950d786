-- begin: for each message id, the fast duplicate check, the lock and the
-- authoritative check in one atomic step. Because the completion check runs in the
-- same script that grants the lease, no second check under the lock is needed.
-- Many ids go in one call (one round trip for a batch); each id is independent.
--
-- KEYS[3i-2] completion record of id i  (<prefix>:done:<id>)
-- KEYS[3i-1] lock of id i               (<prefix>:lock:<id>)
-- KEYS[3i]   grant counter of id i      (<prefix>:fence:<id>)
-- ARGV[1]    lease length, ms
-- ARGV[2]    grant counter lifetime, ms (the dedup window)
-- ARGV[2+i]  lease token for id i (random, unique to this grant)
-- returns, for each id i, in order:
--         {0, record}  the id is complete: record is the completion record
--         {1, fence}   lease granted: fence is the new value of the grant counter
--         {2, pttl}    another lease holds the id for pttl more ms
local out = {}
for i = 1, #KEYS / 3 do
  local done, lock, fence = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local record = redis.call('GET', done)
  if record then
    out[i] = {0, record}
  elseif redis.call('SET', lock, ARGV[2 + i], 'NX', 'PX', ARGV[1]) then
    local n = redis.call('INCR', fence)
    redis.call('PEXPIRE', fence, ARGV[2])
    out[i] = {1, n}
  else
    out[i] = {2, redis.call('PTTL', lock)}
  end
end
return out
