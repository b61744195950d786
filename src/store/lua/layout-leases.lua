-- layout-leases: move one id's lease and grant counter from layout format 1 (two keys)
-- into format 2's one key (dedup-pool layout set, every replica stopped; leases.lib.lua).
-- A lease still running (its replica stopped without ending it) is kept to its end, and
-- the counter keeps its value and at least its lifetime, so tokens keep growing.
--
-- KEYS[1]   format 1 lease (the token)   KEYS[2]   format 1 grant counter
-- KEYS[3]   format 2 lease key
-- ARGV[1]   dedup window, ms (the lifetime of a counter whose own is unknown)
-- returns   1 moved, 0 nothing to move
local token = redis.call('GET', KEYS[1])
local lease_left = token and redis.call('PTTL', KEYS[1]) or -2
local grants = tonumber(redis.call('GET', KEYS[2])) or 0
local counter_left = redis.call('PTTL', KEYS[2])
if counter_left < 0 then counter_left = tonumber(ARGV[1]) end
local value
if token and lease_left > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  value = math.max(grants, 1) .. ' ' .. string.format('%d', now + lease_left) .. ' ' .. token
elseif grants > 0 then
  value = tostring(grants)
end
redis.call('DEL', KEYS[1], KEYS[2])
if not value then return 0 end
redis.call('SET', KEYS[3], value, 'PX', math.max(counter_left, lease_left))
return 1
