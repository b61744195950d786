-- release: end leases without completing (the handler failed, never started, or the
-- replica drains). Many leases go in one call; each is independent.
--
-- KEYS       none (standalone Redis or independent masters)
-- ARGV[1]    lock key prefix (see begin.lua)
-- ARGV[2]    grant counter key prefix
-- ARGV[4i-1] key part of the id of lease i
-- ARGV[4i]   token of lease i
-- ARGV[4i+1] what happens to the attempt count:
--            "keep"    the attempt counts (the handler ran)
--            "reset"   cleared (the id was dead-lettered, so a replay starts again from attempt 1)
--            "uncount" given back (the handler never started), if no grant came after ours
-- ARGV[4i+2] grant counter value of our lease on this instance
-- returns, for each lease i, in order: 1 released, 0 the lease was no longer ours
local out = {}
for i = 1, (#ARGV - 2) / 4 do
  local part, token, mode, mine = ARGV[4 * i - 1], ARGV[4 * i], ARGV[4 * i + 1], ARGV[4 * i + 2]
  local lock, fence = ARGV[1] .. part, ARGV[2] .. part
  if redis.call('GET', lock) == token then
    redis.call('DEL', lock)
    if mode == 'reset' then
      redis.call('DEL', fence)
    elseif mode == 'uncount' and redis.call('GET', fence) == mine then
      redis.call('DECR', fence)
    end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
