-- release: end leases without completing (the handler failed, never started, or the
-- replica drains). Many leases go in one call; each is independent.
--
-- KEYS[2i-1] lock of lease i
-- KEYS[2i]   grant counter of lease i
-- ARGV[3i-2] token of lease i
-- ARGV[3i-1] what happens to the attempt count:
--            "keep"    the attempt counts (the handler ran)
--            "reset"   cleared (the id was dead-lettered, so a replay starts again from attempt 1)
--            "uncount" given back (the handler never started), if no grant came after ours
-- ARGV[3i]   grant counter value of our lease on this instance
-- returns, for each lease i, in order: 1 released, 0 the lease was no longer ours
local out = {}
for i = 1, #KEYS / 2 do
  local lock, fence = KEYS[2 * i - 1], KEYS[2 * i]
  local token, mode, mine = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
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
