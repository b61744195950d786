-- layout-move: write completion records into a time slot of a new layout (dedup-pool
-- layout set), so lookups under the new layout find the records of the old one. The
-- slot's hash lives at least until `expire at`: no record is honoured for less than it was.
--
-- KEYS[1]   record hash of the new layout
-- ARGV[1]   expire at, ms (the latest end of the old slots copied here)
-- ARGV[2..] field, record, field, record, ...
-- returns   the number of records written
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local at = tonumber(ARGV[1])
local current = redis.call('PEXPIRETIME', KEYS[1])
-- Record hashes always expire (-1: none set yet).
if current < 0 or current < at then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return (#ARGV - 1) / 2
