-- complete: for each message id, write the completion record and end the lease in
-- one step, only if no other grant happened since ours. Releasing here (before the
-- ack) is safe: from then on every begin() finds the record and acks its copy as a
-- duplicate. Many ids go in one call; each id is independent.
--
-- KEYS[3i-2] completion record of id i
-- KEYS[3i-1] lock of id i
-- KEYS[3i]   grant counter of id i
-- ARGV[1]    dedup window, ms
-- ARGV[3i-1] lease token of id i
-- ARGV[3i]   grant counter value of our lease on this instance, for id i
-- ARGV[3i+1] completion record value for id i
-- returns, for each id i, in order: 1 recorded; 0 another lease was granted since ours (nothing written)
local out = {}
for i = 1, #KEYS / 3 do
  local done, lock, fence = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local token, mine, record = ARGV[3 * i - 1], ARGV[3 * i], ARGV[3 * i + 1]
  local holder = redis.call('GET', lock)
  -- Our lease may have expired with nobody taking over: the unchanged grant counter
  -- proves no one else ran the handler, so the record is still ours to write.
  if holder == token or (not holder and redis.call('GET', fence) == mine) then
    redis.call('SET', done, record, 'PX', ARGV[1])
    redis.call('DEL', lock, fence)
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
