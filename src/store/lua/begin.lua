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
--         1, fence, 0    lease granted (or ours already: a retried call); fence is the
--                        grant counter's value (leases.lib.lua)
--         2, pttl, fence another lease holds the id for pttl more ms; fence: the grant
--                        counter here (that lease's token, or above), 0 if none
local now = script_now()
local out, n = {}, 0 -- never a nil in it: a nil would end the reply there
for field, tag, part, token in each_id(ARGV[10], 3) do
  local record = find_record(tag, part, field, now)
  if record then
    out[n + 1], out[n + 2], out[n + 3] = 0, record, 0
  else
    out[n + 1], out[n + 2], out[n + 3] = lease_take(tag, part, token, ARGV[9])
  end
  n = n + 3
end
return out
