-- complete: for each message id, write the completion record and end the lease in
-- one step, only if no other grant happened since ours. Releasing here (before the
-- ack) is safe: from then on every begin finds the record and acks its copy as a
-- duplicate. A whole batch goes in one call; each id is independent.
--
-- KEYS[1]    routing only (see begin.lua)
-- ARGV[1..8] shared arguments (records.lib.lua)
-- ARGV[9]    "1" when this call repeats one that may have written some of its records:
--            a moving slot stopped it part-way (Redis Cluster: the writes made before it
--            stopped are kept), or it got no answer (a timeout: it may have run later); else "0"
-- ARGV[10]   the time slot the caller believes current (its clock)
-- ARGV[11]   the ids, packed (records.lib.lua each_id): for each id i, its digest, then
--            its hash tag, key part, lease token, the grant counter value of our lease on
--            this instance, and "1" when the caller has set the expiry of the id's record
--            hash in slot ARGV[10] already (not set again if that is the slot written), else "0"
-- ARGV[11+i] completion record value of id i
-- returns, for each id i, in order: 1 recorded in slot ARGV[10]; 2 recorded in another
--         slot; 0 another lease was granted since ours (nothing written)
local now = script_now()
local cut_short = ARGV[9] == '1'
local believed = tonumber(ARGV[10])
local believed_current = math.floor(now / C.slot) == believed
local out, i = {}, 0
for field, tag, part, token, mine, expiry_known in each_id(ARGV[11], 5) do
  i = i + 1
  local record = ARGV[11 + i]
  -- Our lease may have expired with nobody taking over: the unchanged grant counter
  -- proves no one else ran the handler, so the record is still ours to write.
  if lease_last(tag, part, token, mine) then
    local k = write_record(tag, part, field, record, now, expiry_known == '1' and believed_current)
    lease_drop(tag, part)
    out[i] = k == believed and 1 or 2
  elseif cut_short and not select(2, lease_state(tag, part)) and find_record(tag, part, field, now) == record then
    -- The earlier call wrote this one: our record. Written again, so that a WAIT after
    -- this call covers it (the slot's keys reached this node by MIGRATE, not by us).
    write_record(tag, part, field, record, now, false)
    out[i] = 2
  else
    out[i] = 0
  end
end
return out
