-- complete: for each message id, write the completion record and end the lease in
-- one step, only if no other grant happened since ours. Releasing here (before the
-- ack) is safe: from then on every begin finds the record and acks its copy as a
-- duplicate. A whole batch goes in one call; each id is independent.
--
-- KEYS       none (standalone Redis or independent masters)
-- ARGV[1..3] completion record, lock and grant counter key prefixes (see begin.lua)
-- ARGV[4]    dedup window, ms
-- ARGV[1+4i] key part of id i
-- ARGV[2+4i] lease token of id i
-- ARGV[3+4i] grant counter value of our lease on this instance, for id i
-- ARGV[4+4i] completion record value for id i
-- returns, for each id i, in order: 1 recorded; 0 another lease was granted since ours (nothing written)
local out = {}
for i = 1, (#ARGV - 4) / 4 do
  local part, token, mine, record = ARGV[1 + 4 * i], ARGV[2 + 4 * i], ARGV[3 + 4 * i], ARGV[4 + 4 * i]
  local lock, fence = ARGV[2] .. part, ARGV[3] .. part
  local holder = redis.call('GET', lock)
  -- Our lease may have expired with nobody taking over: the unchanged grant counter
  -- proves no one else ran the handler, so the record is still ours to write.
  if holder == token or (not holder and redis.call('GET', fence) == mine) then
    redis.call('SET', ARGV[1] .. part, record, 'PX', ARGV[4])
    redis.call('DEL', lock, fence)
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
