-- begin: for each message id, the completion check and the lease in one atomic
-- step. Because the completion check runs in the same script that grants the lease,
-- no second check under the lock is needed. A whole batch goes in one call (one round
-- trip); each id is independent. Key names are the prefixes from src/keys.ts followed
-- by the id's key part, so a call carries each id once instead of three key names.
--
-- KEYS      none (standalone Redis or independent masters)
-- ARGV[1]   completion record key prefix   (<prefix>:done:)
-- ARGV[2]   lock key prefix                (<prefix>:lock:)
-- ARGV[3]   grant counter key prefix       (<prefix>:fence:)
-- ARGV[4]   lease length, ms
-- ARGV[5]   grant counter lifetime, ms (the dedup window)
-- ARGV[4+2i] key part of id i
-- ARGV[5+2i] lease token for id i (random, unique to this grant)
-- returns, for each id i, in order:
--         {0, record}  the id is complete: record is the completion record
--         {1, fence}   lease granted: fence is the new value of the grant counter
--         {2, pttl}    another lease holds the id for pttl more ms
local out = {}
for i = 1, (#ARGV - 5) / 2 do
  local part, token = ARGV[4 + 2 * i], ARGV[5 + 2 * i]
  local record = redis.call('GET', ARGV[1] .. part)
  if record then
    out[i] = {0, record}
  else
    local lock = ARGV[2] .. part
    if redis.call('SET', lock, token, 'NX', 'PX', ARGV[4]) then
      local fence = ARGV[3] .. part
      local n = redis.call('INCR', fence)
      -- The counter lives one dedup window from its first grant.
      if n == 1 then redis.call('PEXPIRE', fence, ARGV[5]) end
      out[i] = {1, n}
    else
      out[i] = {2, redis.call('PTTL', lock)}
    end
  end
end
return out
