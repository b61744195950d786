-- raise: lift an instance's grant counter to the fencing token a quorum agreed on.
-- With several Redis masters the token of a grant is the highest counter among the
-- instances that granted it; lifting the others keeps tokens increasing from one
-- grant to the next, because any two majorities share an instance.
--
-- KEYS[1] grant counter: the counter's key (format 1) or the lease key, which starts with it
--         (format 2: "<grants> <lease end> <token>" or "<grants>", leases.lib.lua)
-- ARGV[1] the fencing token
-- ARGV[2] counter lifetime, ms (at least a lease's length)
-- returns 1 raised, 0 already at or above it
local v = redis.call('GET', KEYS[1])
local grants, lease = string.match(v or '0', '^(%d+)(.*)$')
if (tonumber(grants) or 0) < tonumber(ARGV[1]) then
  -- A lease held under the counter is kept: only its count is lifted.
  redis.call('SET', KEYS[1], ARGV[1] .. (lease or ''), 'PX', ARGV[2])
  return 1
end
return 0
