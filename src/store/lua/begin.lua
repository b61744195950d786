-- begin: for each message id, the completion check and the lease in one atomic
-- step. Because the completion check runs in the same script that grants the lease,
-- no second check under the lock is needed. A whole batch goes in one call (one round
-- trip); each id is independent.
--
-- KEYS[1]   routing only: a key on the node that holds every id of the call (Redis Cluster)
-- ARGV[1..8] shared arguments (records.lib.lua)
-- ARGV[9]   lease length, ms
-- ARGV[10]  the ids, packed (records.lib.lua each_id): for each id i, its digest, then
--           its hash tag, key part and lease token (random, unique to this grant)
-- returns three values for each id i, in order (one flat list: a nested reply costs Redis
-- twice as much to build):
--         0, record, 0   the id is complete: record is the completion record
--         1, fence, 0    lease granted: fence is the new value of the grant counter
--         2, pttl, fence another lease holds the id for pttl more ms; fence: the grant
--                        counter here (that lease's token, or above), 0 if none
local now = now_ms()
local out, n = {}, 0 -- never a nil in it: a nil would end the reply there
local function answer(state, a, b)
  out[n + 1], out[n + 2], out[n + 3] = state, a, b
  n = n + 3
end
for field, tag, part, token in each_id(ARGV[10], 3) do
  local record = find_record(tag, part, field, now)
  if record then
    answer(0, record, 0)
  else
    local lock = lock_key(tag, part)
    if redis.call('SET', lock, token, 'NX', 'PX', ARGV[9]) then
      local fence = fence_key(tag, part)
      -- The counter lives one dedup window from its first grant (one command for a new id).
      local grants = 1
      if not redis.call('SET', fence, '1', 'NX', 'PX', ARGV[6]) then grants = redis.call('INCR', fence) end
      answer(1, grants, 0)
    elseif redis.call('GET', lock) == token then
      -- Our own grant, asked again after its reply was lost (a retried call).
      answer(1, tonumber(redis.call('GET', fence_key(tag, part))) or 0, 0)
    else
      answer(2, redis.call('PTTL', lock), tonumber(redis.call('GET', fence_key(tag, part))) or 0)
    end
  end
end
return out
