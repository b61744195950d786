-- release: end a lease without completing (the handler failed, or the replica drains).
--
-- KEYS[1] lock
-- KEYS[2] grant counter
-- ARGV[1] lease token
-- ARGV[2] "1" to also reset the grant counter (the id was dead-lettered, so a
--         replay from the dead-letter queue starts again from attempt 1)
-- returns 1 released, 0 the lease was no longer ours
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[2] == '1' then
    redis.call('DEL', KEYS[2])
  end
  return 1
end
return 0
