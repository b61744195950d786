-- records (prepended to every script that names an id's keys; see src/store/keys.ts):
-- the shared arguments and the completion record layout.
--
-- Records of one time slot and one bucket of ids share a small hash (listpack
-- encoded: about 35 bytes a record), field = 16-byte digest of the id, value = the
-- record. The hash lives until its slot ends plus the dedup window, so a record
-- lives at least the window and at most the window plus one slot. A record too long
-- for a listpack entry gets a key of its own with the window as its TTL.
--
-- ARGV[1]   record hash prefix           (<prefix>:<scope>:r:)
-- ARGV[2]   own-key record prefix        (<prefix>:<scope>:done:)
-- ARGV[3]   lease key prefix             (<prefix>:<scope>:lease:; format 1: <prefix>:<scope>:lock:)
-- ARGV[4]   grant counter key prefix     ("": the lease key holds it; format 1: <prefix>:<scope>:fence:)
-- ARGV[5]   record prefix of versions before scopes (<prefix>:done:), or "" for none
-- ARGV[6]   dedup window, ms
-- ARGV[7]   slot length, ms
-- ARGV[8]   "1" while records of earlier versions may still exist (own-key records
--           without a mark in the slot hash; the legacy key when ARGV[5] is set), else "0":
--           src/store/layout.ts decides, from when this version first met the scope.
-- Each id then comes as its hash tag ({bucket}) and key part; keys are prefix .. tag .. ":" .. part.
local C = {rec = ARGV[1], own = ARGV[2], lock = ARGV[3], fence = ARGV[4], legacy = ARGV[5],
  window = tonumber(ARGV[6]), slot = tonumber(ARGV[7]), compat = ARGV[8] == '1'}
local LISTPACK_VALUE_MAX = 64
-- The slot hash's value for a record kept under a key of its own (never a record: those
-- start with a 12-character fingerprint), so lookups need no GET for ids without one.
local OWN_MARK = '='
-- How far ahead a writer's clock may read and its record still be found (next slot).
local AHEAD_MS = math.min(C.slot, 300000)

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The ids of a begin or complete call, packed in one argument (dedup-store.ts beginMany, completeMany):
-- each is its 16-byte digest, then `n` fields each ended by a space (none can hold one).
-- An iterator over them: for digest, field 1, ..., field n in each_id(s, n). (No table per
-- id: a pattern match per id is half the cost of a find and a sub per field.)
local function each_id(s, n)
  return string.gmatch(s, '(' .. string.rep('.', 16) .. ')' .. string.rep('([^ ]*) ', n))
end

-- The slots a record written in the window can be in, newest first. Near the end of the
-- current slot, the next one too: a record written where the clock read later (Redis's
-- clock stepped back, or a promoted replica's lags) is there; skew up to AHEAD_MS (one
-- slot, at most 5 minutes) is tolerated.
local function slots(now)
  local k = math.floor(now / C.slot)
  if (k + 1) * C.slot - now <= AHEAD_MS then k = k + 1 end
  return k, math.floor((now - C.window) / C.slot)
end

-- The slots' key suffixes (":<slot>"), newest first, for the call's clock reading: made
-- once a call, not once an id (a number turned into a string goes through printf).
local suffixes_at, suffixes
local function slot_suffixes(now)
  if now ~= suffixes_at then
    local newest, oldest = slots(now)
    suffixes, suffixes_at = {}, now
    for k = newest, oldest, -1 do suffixes[#suffixes + 1] = ':' .. k end
  end
  return suffixes
end

-- The id's record and, for a hashed one, its slot hash; nil when there is none.
local function find_record(tag, part, field, now)
  for _, suffix in ipairs(slot_suffixes(now)) do
    local hash = C.rec .. tag .. suffix
    local r = redis.call('HGET', hash, field)
    if r == OWN_MARK then
      local own = redis.call('GET', C.own .. tag .. ':' .. part)
      if own then return own, nil end
    elseif r then
      return r, hash
    end
  end
  if not C.compat then return nil, nil end
  local own = redis.call('GET', C.own .. tag .. ':' .. part)
  if own then return own, nil end
  if C.legacy ~= '' then
    -- pcall: under a scope named "done" a crafted id could name a key of another type.
    local old = redis.pcall('GET', C.legacy .. part)
    if type(old) == 'string' then return old, nil end
  end
  return nil, nil
end

-- Writes the id's record in the current slot's hash (a long one under its own key, marked
-- in the hash). The hash's expiry is set unless this call set it already, or `expiry_known`:
-- the caller set it before (the client remembers the hashes it has set: record-expiry.ts).
-- Returns the slot written.
local expiry_set = {} -- the hashes this call has set the expiry of
local current_at, current_suffix
local function write_record(tag, part, field, record, now, expiry_known)
  local k = math.floor(now / C.slot)
  if now ~= current_at then current_at, current_suffix = now, ':' .. k end
  local hash = C.rec .. tag .. current_suffix
  if #record <= LISTPACK_VALUE_MAX then
    redis.call('HSET', hash, field, record)
  else
    redis.call('SET', C.own .. tag .. ':' .. part, record, 'PX', ARGV[6])
    redis.call('HSET', hash, field, OWN_MARK)
  end
  if not (expiry_known or expiry_set[hash]) then
    redis.call('PEXPIREAT', hash, string.format('%d', (k + 1) * C.slot + C.window))
    expiry_set[hash] = true
  end
  return k
end
