-- complete: for each message id, write the completion record and end the lease in
-- one step, only if no other grant happened since ours. Releasing here (before the
-- ack) is safe: from then on every begin finds the record and acks its copy as a
-- duplicate. A whole batch goes in one call; each id is independent.
--
-- KEYS[1]    routing only (see begin.lua)
-- ARGV[1..7] shared arguments (records.lib.lua)
-- ARGV[8]    "1" when this call repeats one that may have written some of its records:
--            a moving slot stopped it part-way (Redis Cluster: the writes made before it
--            stopped are kept), or it got no answer (a timeout: it may have run later); else "0"
-- ARGV[3+6i] hash tag of id i      ARGV[4+6i] key part     ARGV[5+6i] digest
-- ARGV[6+6i] lease token           ARGV[7+6i] grant counter value of our lease on this instance
-- ARGV[8+6i] completion record value
-- returns, for each id i, in order: 1 recorded; 0 another lease was granted since ours (nothing written)
local now = now_ms()
local cut_short = ARGV[8] == '1'
local out = {}
for i = 1, (#ARGV - 8) / 6 do
  local tag, part, field, token, mine, record = ARGV[3 + 6 * i], ARGV[4 + 6 * i], ARGV[5 + 6 * i], ARGV[6 + 6 * i], ARGV[7 + 6 * i], ARGV[8 + 6 * i]
  local lock, fence = lock_key(tag, part), fence_key(tag, part)
  local holder = redis.call('GET', lock)
  -- Our lease may have expired with nobody taking over: the unchanged grant counter
  -- proves no one else ran the handler, so the record is still ours to write.
  if holder == token or (not holder and redis.call('GET', fence) == mine) then
    write_record(tag, part, field, record, now)
    redis.call('DEL', lock, fence)
    out[i] = 1
  elseif cut_short and not holder and find_record(tag, part, field, now) == record then
    -- The earlier call wrote this one: our record. Written again, so that a WAIT after
    -- this call covers it (the slot's keys reached this node by MIGRATE, not by us).
    write_record(tag, part, field, record, now)
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
