-- inspect: what the store knows about one id (dedup-pool id show).
--
-- KEYS[1]    routing only (see begin.lua)
-- ARGV[1..8] shared arguments (records.lib.lua)
-- ARGV[9]    hash tag of the id   ARGV[10] key part   ARGV[11] digest
-- returns {record or false, ms the record has left or -1, lease holder's token or false,
--          ms the lease has left or -1, grant counter or false}
local tag, part, field = ARGV[9], ARGV[10], ARGV[11]
local record, hash = find_record(tag, part, field, script_now())
local left = -1
if record then
  -- A hashed record goes with its slot's hash; one of its own (or an old one) with its key.
  left = hash and redis.call('PTTL', hash) or redis.call('PTTL', C.own .. tag .. ':' .. part)
  if left < 0 and C.legacy ~= '' then left = redis.call('PTTL', C.legacy .. part) end
end
local grants, holder, lease_left = lease_state(tag, part)
return {record or false, left, holder or false, lease_left, grants > 0 and grants or false}
