-- forget: remove an id's completion record so it can run again (dedup-pool id forget).
-- Refused while a lease is held: the holder would write its record right after.
--
-- KEYS[1]    routing only (see begin.lua)
-- ARGV[1..7] shared arguments (records.lib.lua)
-- ARGV[8]    hash tag of the id   ARGV[9] key part   ARGV[10] digest
-- returns 1 forgotten; 0 there was no record; -1 refused: a lease is held
local tag, part, field = ARGV[8], ARGV[9], ARGV[10]
if redis.call('EXISTS', lock_key(tag, part)) == 1 then return -1 end
local found = 0
local newest, oldest = slots(now_ms())
for k = newest, oldest, -1 do
  found = found + redis.call('HDEL', C.rec .. tag .. ':' .. k, field)
end
found = found + redis.call('DEL', C.own .. tag .. ':' .. part)
if C.legacy ~= '' then found = found + redis.call('DEL', C.legacy .. part) end
redis.call('DEL', fence_key(tag, part))
return found > 0 and 1 or 0
