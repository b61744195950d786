-- release: end leases without completing (the handler failed, never started, or the
-- replica drains). Many leases go in one call; each is independent.
--
-- KEYS[1]    routing only (see begin.lua)
-- ARGV[1..8] shared arguments (records.lib.lua)
-- ARGV[4+5i] hash tag of the id of lease i   ARGV[5+5i] its key part   ARGV[6+5i] token of lease i
-- ARGV[7+5i] what happens to the attempt count:
--            "keep"    the attempt counts (the handler ran)
--            "reset"   cleared (the id was dead-lettered, so a replay starts again from attempt 1)
--            "uncount" given back (the handler never started), if no grant came after ours
-- ARGV[8+5i] grant counter value of our lease on this instance, or "" when unknown (the
--            begin's answer was lost): the lock still holding our token proves the last
--            grant was ours
-- returns, for each lease i, in order: 1 released, 0 the lease was no longer ours
local out = {}
for i = 1, (#ARGV - 8) / 5 do
  out[i] = lease_release(ARGV[4 + 5 * i], ARGV[5 + 5 * i], ARGV[6 + 5 * i], ARGV[7 + 5 * i], ARGV[8 + 5 * i]) and 1 or 0
end
return out
