-- layout: the record layout settings of a prefix and scope (see src/store/layout.ts).
-- The first replica to start stores its own; everyone after is compared with them.
--
-- KEYS[1]   the layout hash (<prefix>:<scope>:layout)
-- ARGV[1]   record format version   ARGV[2] dedup window, ms
-- ARGV[3]   slot length, ms         ARGV[4] buckets
-- ARGV[5]   "" to claim: store these settings only if none are stored;
--           else the window, ms, the stored settings must have to be replaced by these
-- ARGV[6]   "1" when keys of earlier versions were found under the prefix (read only when
--           no settings are stored yet), else "0"
-- returns   the settings stored now: {format, window, slot, buckets, set at (ms),
--           compat until (ms: records of earlier versions may exist until then)}
local fields = {'format', 'window', 'slot', 'buckets', 'set_at', 'compat_until'}
local expected = ARGV[5]
local stored = redis.call('HGET', KEYS[1], 'window')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if (expected == '' and not stored) or (expected ~= '' and stored == expected) then
  redis.call('HSET', KEYS[1], 'format', ARGV[1], 'window', ARGV[2], 'slot', ARGV[3], 'buckets', ARGV[4], 'set_at', string.format('%d', now))
  if not stored then
    local until_ms = ARGV[6] == '1' and now + tonumber(ARGV[2]) or 0
    redis.call('HSET', KEYS[1], 'compat_until', string.format('%d', until_ms))
  end
end
-- Stored by a version that did not mark long records: theirs may exist for one more window.
if stored and not redis.call('HGET', KEYS[1], 'compat_until') then
  redis.call('HSET', KEYS[1], 'compat_until', string.format('%d', now + tonumber(stored)))
end
return redis.call('HMGET', KEYS[1], unpack(fields))
