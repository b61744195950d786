-- forget: remove an id's completion record so it can run again (dedup-pool id forget).
-- Refused while a lease is held: the holder would write its record right after.
--
-- KEYS[1]    routing only (see begin.lua)
-- ARGV[1..8] shared arguments (records.lib.lua)
-- ARGV[9]    hash tag of the id   ARGV[10] key part   ARGV[11] digest
-- returns 1 forgotten; 0 there was no record; -1 refused: a lease is held
local tag, part, field = ARGV[9], ARGV[10], ARGV[11]
if select(2, lease_state(tag, part)) then return -1 end
local found = 0
local newest, oldest = slots(script_now())
for k = newest, oldest, -1 do
  local hash = C.rec .. tag .. ':' .. k
  local at = redis.call('PEXPIRETIME', hash)
  if redis.call('HDEL', hash, field) == 1 then
    found = found + 1
    -- Replicas remember which hashes have their expiry set and do not set it again: a hash
    -- emptied here stays, with an empty placeholder and its expiry, rather than come back without one.
    if at > 0 and redis.call('EXISTS', hash) == 0 then
      redis.call('HSET', hash, '', '')
      redis.call('PEXPIREAT', hash, at)
    end
  end
end
found = found + redis.call('DEL', C.own .. tag .. ':' .. part)
if C.legacy ~= '' then found = found + redis.call('DEL', C.legacy .. part) end
lease_drop(tag, part)
return found > 0 and 1 or 0
