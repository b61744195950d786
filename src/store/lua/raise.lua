-- raise: lift an instance's grant counter to the fencing token a quorum agreed on.
-- With several Redis masters the token of a grant is the highest counter among the
-- instances that granted it; lifting the others keeps tokens increasing from one
-- grant to the next, because any two majorities share an instance.
--
-- KEYS[1] grant counter
-- ARGV[1] the fencing token
-- ARGV[2] counter lifetime, ms
-- returns 1 raised, 0 already at or above it
if (tonumber(redis.call('GET', KEYS[1])) or 0) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
