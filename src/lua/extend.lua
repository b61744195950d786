-- extend: lengthen leases, each only if it is still ours. The replica's lease clock
-- renews every lease that is due in one call.
--
-- KEYS[i]   lock of lease i
-- ARGV[1]   new lease length, ms
-- ARGV[1+i] token of lease i
-- returns, for each lease i, in order: 1 extended, 0 no longer ours
local out = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1 + i] then
    out[i] = redis.call('PEXPIRE', KEYS[i], ARGV[1])
  else
    out[i] = 0
  end
end
return out
