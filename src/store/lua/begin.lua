-- begin: for each message id, the completion check and the lease in one atomic
-- step. Because the completion check runs in the same script that grants the lease,
-- no second check under the lock is needed. A whole batch goes in one call (one round
-- trip); each id is independent.
--
-- KEYS[1]   routing only: a key on the node that holds every id of the call (Redis Cluster)
-- ARGV[1..7] shared arguments (records.lib.lua)
-- ARGV[8]   lease length, ms
-- ARGV[5+4i] hash tag of id i      ARGV[6+4i] key part of id i
-- ARGV[7+4i] digest of id i        ARGV[8+4i] lease token for id i (random, unique to this grant)
-- returns, for each id i, in order:
--         {0, record}  the id is complete: record is the completion record
--         {1, fence}   lease granted: fence is the new value of the grant counter
--         {2, pttl, fence}  another lease holds the id for pttl more ms; fence: the grant
--                           counter here (that lease's token, or above), 0 if none
local now = now_ms()
local out = {}
for i = 1, (#ARGV - 8) / 4 do
  local tag, part, field, token = ARGV[5 + 4 * i], ARGV[6 + 4 * i], ARGV[7 + 4 * i], ARGV[8 + 4 * i]
  local record = find_record(tag, part, field, now)
  if record then
    out[i] = {0, record}
  else
    local lock = lock_key(tag, part)
    if redis.call('SET', lock, token, 'NX', 'PX', ARGV[8]) then
      local fence = fence_key(tag, part)
      local n = redis.call('INCR', fence)
      -- The counter lives one dedup window from its first grant.
      if n == 1 then redis.call('PEXPIRE', fence, C.window) end
      out[i] = {1, n}
    elseif redis.call('GET', lock) == token then
      -- Our own grant, asked again after its reply was lost (a retried call).
      out[i] = {1, tonumber(redis.call('GET', fence_key(tag, part)))}
    else
      out[i] = {2, redis.call('PTTL', lock), tonumber(redis.call('GET', fence_key(tag, part))) or 0}
    end
  end
end
return out
