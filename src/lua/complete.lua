-- complete: write the completion record and end the lease in one step, only if no
-- other grant happened since ours. Releasing here (before the ack) is safe: from
-- this point on every begin() finds the record and acks its copy as a duplicate.
--
-- KEYS[1] completion record
-- KEYS[2] lock
-- KEYS[3] grant counter
-- ARGV[1] lease token
-- ARGV[2] grant counter value of our lease on this instance
-- ARGV[3] completion record value
-- ARGV[4] dedup window, ms
-- returns 1 recorded; 0 another lease was granted since ours (nothing written)
local holder = redis.call('GET', KEYS[2])
-- Our lease may have expired with nobody taking over: the unchanged grant counter
-- proves no one else ran the handler, so the record is still ours to write.
if holder == ARGV[1] or (not holder and redis.call('GET', KEYS[3]) == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  redis.call('DEL', KEYS[2], KEYS[3])
  return 1
end
return 0
