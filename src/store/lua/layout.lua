-- layout: the record layout settings of a prefix and scope (see src/store/layout.ts).
-- The first replica to start stores its own; everyone after is compared with them.
--
-- KEYS[1]   the layout hash (<prefix>:<scope>:layout)
-- ARGV[1]   record format version   ARGV[2] dedup window, ms
-- ARGV[3]   slot length, ms         ARGV[4] buckets
-- ARGV[5]   "" to claim: store these settings only if none are stored;
--           else the window, ms, the stored settings must have to be replaced by these
-- returns   the settings stored now: {format, window, slot, buckets, set at (ms)}
local fields = {'format', 'window', 'slot', 'buckets', 'set_at'}
local expected = ARGV[5]
local stored = redis.call('HGET', KEYS[1], 'window')
if (expected == '' and not stored) or (expected ~= '' and stored == expected) then
  local t = redis.call('TIME')
  local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  redis.call('HSET', KEYS[1], 'format', ARGV[1], 'window', ARGV[2], 'slot', ARGV[3], 'buckets', ARGV[4], 'set_at', now)
end
return redis.call('HMGET', KEYS[1], unpack(fields))
