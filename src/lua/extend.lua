-- extend: lengthen a lease, only if it is still ours.
--
-- KEYS[1] lock
-- ARGV[1] lease token
-- ARGV[2] new lease length, ms
-- returns 1 extended, 0 the lease is no longer ours
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
