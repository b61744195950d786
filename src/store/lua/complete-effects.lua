-- complete-effects: apply a handler's Redis writes, write the completion record and
-- end the lease, all in one script, only if no other grant happened since ours.
-- Every effect's key type is checked before anything is written, so a wrong-type
-- key refuses the whole step instead of applying half of it. One Redis only.
--
-- KEYS[1]   lock
-- KEYS[2]   grant counter
-- KEYS[2+j] key of effect j
-- ARGV[1..7] shared arguments (records.lib.lua)
-- ARGV[8]   hash tag of the id    ARGV[9] key part    ARGV[10] digest
-- ARGV[11]  lease token
-- ARGV[12]  grant counter value of our lease
-- ARGV[13]  completion record value
-- ARGV[14]  number of effects n
-- then for each effect j: command, key type it needs (string|hash|set|zset|list|stream|any), argument count m, m arguments
-- returns 1 applied and recorded; 0 another lease was granted since ours (nothing written);
--         {err = "..."} an effect's key has the wrong type (nothing written)
local holder = redis.call('GET', KEYS[1])
if not (holder == ARGV[11] or (not holder and redis.call('GET', KEYS[2]) == ARGV[12])) then
  return 0
end
local n = tonumber(ARGV[14])
local effects = {}
local at = 15
for j = 1, n do
  local command, needs, m = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
  local args = {}
  for k = 1, m do args[k] = ARGV[at + 2 + k] end
  at = at + 3 + m
  local key = KEYS[2 + j]
  local has = redis.call('TYPE', key)['ok']
  if needs ~= 'any' and has ~= 'none' and has ~= needs then
    return redis.error_reply('effect ' .. j .. ': ' .. command .. ' needs a ' .. needs .. ' at ' .. key .. ', found a ' .. has)
  end
  effects[j] = {command, key, args}
end
for j = 1, n do
  local e = effects[j]
  redis.call(e[1], e[2], unpack(e[3]))
end
write_record(ARGV[8], ARGV[9], ARGV[10], ARGV[13], now_ms())
redis.call('DEL', KEYS[1], KEYS[2])
return 1
