-- extend: lengthen leases, each only if it is still ours. The replica's lease clock
-- renews every lease that is due in one call.
--
-- KEYS[1]    routing only (see begin.lua)
-- ARGV[1..8] shared arguments (records.lib.lua)
-- ARGV[9]    new lease length, ms
-- ARGV[7+3i] hash tag of the id of lease i   ARGV[8+3i] its key part   ARGV[9+3i] token of lease i
-- returns, for each lease i, in order: 1 extended, 0 no longer ours
local out = {}
for i = 1, (#ARGV - 9) / 3 do
  out[i] = lease_extend(ARGV[7 + 3 * i], ARGV[8 + 3 * i], ARGV[9 + 3 * i], ARGV[9]) and 1 or 0
end
return out
