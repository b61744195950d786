-- extend: lengthen leases, each only if it is still ours. The replica's lease clock
-- renews every lease that is due in one call.
--
-- KEYS       none (standalone Redis or independent masters)
-- ARGV[1]    lock key prefix (see begin.lua)
-- ARGV[2]    new lease length, ms
-- ARGV[1+2i] key part of the id of lease i
-- ARGV[2+2i] token of lease i
-- returns, for each lease i, in order: 1 extended, 0 no longer ours
local out = {}
for i = 1, (#ARGV - 2) / 2 do
  local lock = ARGV[1] .. ARGV[1 + 2 * i]
  if redis.call('GET', lock) == ARGV[2 + 2 * i] then
    out[i] = redis.call('PEXPIRE', lock, ARGV[2])
  else
    out[i] = 0
  end
end
return out
