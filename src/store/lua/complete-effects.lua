-- complete-effects: apply a handler's Redis writes, write the completion record and
-- end the lease, all in one script, only if no other grant happened since ours.
-- Redis keeps the writes a script made before an error, so everything that can be
-- known wrong is checked before the first write: each key's type as the effects
-- before it will leave it, and the numbers already stored where an effect adds to
-- them (the arguments were checked by the replica, src/store/effects.ts). An effect
-- that still fails stops the script with an "effect j:" error saying what was applied:
-- the replica dead-letters the message then, and never runs it again by itself. One
-- Redis only.
--
-- KEYS[1]   lease (leases.lib.lua)
-- KEYS[2]   grant counter (format 2: the lease again)
-- KEYS[2+j] key of effect j
-- ARGV[1..8] shared arguments (records.lib.lua)
-- ARGV[9]   hash tag of the id    ARGV[10] key part    ARGV[11] digest
-- ARGV[12]  lease token
-- ARGV[13]  grant counter value of our lease
-- ARGV[14]  completion record value
-- ARGV[15]  number of effects n
-- then for each effect j: command, key type it needs (string|hash|set|zset|list|stream|any), argument count m, m arguments
-- returns 1 applied and recorded; 0 another lease was granted since ours (nothing written);
--         {err = "effect j: ..."} refused before any write, or effect j failed (the error says which were applied)
if not lease_last(ARGV[9], ARGV[10], ARGV[12], ARGV[13]) then return 0 end

-- What an increment needs already stored: an integer, or any number.
local ADDS = {INCR = 'integer', INCRBY = 'integer', DECR = 'integer', DECRBY = 'integer', INCRBYFLOAT = 'number',
  HINCRBY = 'integer', HINCRBYFLOAT = 'number'}
local function holds(value, kind)
  if value == false or value == nil then return true end
  local n = tonumber(value)
  if n == nil then return false end
  return kind == 'number' or (n == math.floor(n) and not string.find(value, '[.eE]'))
end

local n = tonumber(ARGV[15])
local effects = {}
local planned = {} -- key -> its type once the effects before have run
local written = {} -- keys an earlier effect of this call writes: their values are not known here
local at = 16
for j = 1, n do
  local command, needs, m = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
  local args = {}
  for k = 1, m do args[k] = ARGV[at + 2 + k] end
  at = at + 3 + m
  local key = KEYS[2 + j]
  local has = planned[key] or redis.call('TYPE', key)['ok']
  if needs ~= 'any' and has ~= 'none' and has ~= needs then
    return redis.error_reply('effect ' .. j .. ': ' .. command .. ' needs a ' .. needs .. ' at ' .. key .. ', found a ' .. has .. '; nothing was written')
  end
  local adds = ADDS[command]
  if adds and not written[key] and has ~= 'none' then
    local now
    if needs == 'hash' then now = redis.call('HGET', key, args[1]) else now = redis.call('GET', key) end
    if not holds(now, adds) then
      return redis.error_reply('effect ' .. j .. ': ' .. command .. ' needs ' .. adds .. ' at ' .. key .. ', found ' .. tostring(now) .. '; nothing was written')
    end
  end
  if command == 'DEL' then planned[key] = 'none' elseif needs ~= 'any' then planned[key] = needs end
  written[key] = true
  effects[j] = {command, key, args}
end
for j = 1, n do
  local e = effects[j]
  local r = redis.pcall(e[1], e[2], unpack(e[3]))
  if type(r) == 'table' and r.err then
    local applied = j == 1 and 'nothing was written' or ('effects 1-' .. (j - 1) .. ' were applied and stay')
    return redis.error_reply('effect ' .. j .. ': ' .. e[1] .. ' failed: ' .. r.err .. '; ' .. applied .. ', the rest were not, and no completion record was written')
  end
end
write_record(ARGV[9], ARGV[10], ARGV[11], ARGV[14], script_now(), false)
lease_drop(ARGV[9], ARGV[10])
return 1
