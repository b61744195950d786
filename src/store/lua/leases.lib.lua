-- leases (prepended after records.lib.lua to every script that names an id's keys): an
-- id's lease and its grant counter (the fencing token and the attempt count), in the
-- key format of the scope's stored layout (src/store/layout.ts):
--
-- format 2  one key per id (ARGV[3] is its prefix, ARGV[4] is ""), living one dedup window
--           from its last grant or extension (always past the lease's end). Its value:
--             "<grants> <lease end, ms on Redis's clock> <token>"  a lease is or was held
--             "<grants>"                                          none is (released)
--           A new id's lease is one command (SET NX GET), its end one DEL.
-- format 1  layouts stored by earlier versions: the lease under ARGV[3] (value: the token,
--           TTL: the lease), the counter under ARGV[4] (living one window from its first grant).
--
-- Every function here decides for one id, given its hash tag and key part.
local SPLIT = C.fence ~= ''

-- Redis's clock, read once per call (a script is atomic: it does not move meanwhile).
local clock_read
local function script_now()
  if not clock_read then clock_read = now_ms() end
  return clock_read
end

-- The strings a grant or extension of `len` ms writes: its end and the key's lifetime. Made
-- once per call, not once per id (a number turned into a string goes through printf).
local ends_for, ends_at, lives
local function lease_strings(len)
  if ends_for ~= len then
    local ms = tonumber(len)
    ends_for, ends_at = len, string.format('%d', script_now() + ms)
    lives = C.window >= ms and ARGV[6] or len
  end
  return ends_at, lives
end

-- Format 2's value: grants, the token of the lease written last (nil when released) and its end.
local function parse_lease(v)
  if not v then return 0, nil, 0 end
  local grants, ends, token = string.match(v, '^(%d+) (%d+) (.+)$')
  if grants then return tonumber(grants), token, tonumber(ends) end
  return tonumber(v) or 0, nil, 0
end

-- Whether a format 2 lease of `token` (nil: none) ending at `ends` is held now.
local function held(token, ends) return token ~= nil and ends > script_now() end

local function lease_key(tag, part) return C.lock .. tag .. ':' .. part end
local function fence_key(tag, part) return C.fence .. tag .. ':' .. part end

-- The id's grant counter (0 if none), the token of the lease held now (nil if none), and
-- the ms that lease has left (-1 if none).
local function lease_state(tag, part)
  if SPLIT then
    local lock = lease_key(tag, part)
    local holder = redis.call('GET', lock)
    return tonumber(redis.call('GET', fence_key(tag, part))) or 0, holder or nil, holder and redis.call('PTTL', lock) or -1
  end
  local grants, token, ends = parse_lease(redis.call('GET', lease_key(tag, part)))
  if held(token, ends) then return grants, token, ends - script_now() end
  return grants, nil, -1
end

-- Grant a lease of `len` ms (a string) with `token` unless another is held. Returns begin.lua's
-- answer: 1, grants, 0 (granted, or ours already: a retried call); 2, ms left, grants (held).
local function lease_take(tag, part, token, len)
  local key = lease_key(tag, part)
  if SPLIT then
    if redis.call('SET', key, token, 'NX', 'PX', len) then
      local fence = fence_key(tag, part)
      -- The counter lives one dedup window from its first grant (one command for a new id).
      local grants = 1
      if not redis.call('SET', fence, '1', 'NX', 'PX', ARGV[6]) then grants = redis.call('INCR', fence) end
      return 1, grants, 0
    end
    local grants, holder, left = lease_state(tag, part)
    if holder == token then return 1, grants, 0 end
    return 2, left, grants
  end
  local ends, lives = lease_strings(len)
  local v = redis.call('SET', key, '1 ' .. ends .. ' ' .. token, 'NX', 'PX', lives, 'GET')
  if not v then return 1, 1, 0 end
  local grants, holder, held_until = parse_lease(v)
  if held(holder, held_until) then
    if holder == token then return 1, grants, 0 end
    return 2, held_until - script_now(), grants
  end
  grants = grants + 1
  redis.call('SET', key, grants .. ' ' .. ends .. ' ' .. token, 'PX', lives)
  return 1, grants, 0
end

-- Whether the lease granted with `token` is still the last grant: held by it, or ended with
-- no grant since (the counter still at `mine`, ours on this instance): the handler's result is ours to record.
local function lease_last(tag, part, token, mine)
  if SPLIT then
    local holder = redis.call('GET', lease_key(tag, part))
    return holder == token or (not holder and redis.call('GET', fence_key(tag, part)) == mine)
  end
  local grants, holder, ends = parse_lease(redis.call('GET', lease_key(tag, part)))
  return holder == token or (not held(holder, ends) and grants == tonumber(mine))
end

-- The id's lease and counter removed (its record is written, or forgotten).
local function lease_drop(tag, part)
  if SPLIT then return redis.call('DEL', lease_key(tag, part), fence_key(tag, part)) end
  return redis.call('DEL', lease_key(tag, part))
end

-- The lease held with `token` made `len` ms (a string) long from now; false if it is not held.
local function lease_extend(tag, part, token, len)
  local key = lease_key(tag, part)
  if SPLIT then
    return redis.call('GET', key) == token and redis.call('PEXPIRE', key, len) == 1
  end
  local grants, holder, ends = parse_lease(redis.call('GET', key))
  if holder ~= token or not held(holder, ends) then return false end
  local new_end, lives = lease_strings(len)
  redis.call('SET', key, grants .. ' ' .. new_end .. ' ' .. token, 'PX', lives)
  return true
end

-- End the lease held with `token` without a record (release.lua's modes); false if not held.
local function lease_release(tag, part, token, mode, mine)
  local key = lease_key(tag, part)
  if SPLIT then
    if redis.call('GET', key) ~= token then return false end
    redis.call('DEL', key)
    local fence = fence_key(tag, part)
    if mode == 'reset' then
      redis.call('DEL', fence)
    elseif mode == 'uncount' and (mine == '' or redis.call('GET', fence) == mine) then
      redis.call('DECR', fence)
    end
    return true
  end
  local grants, holder, ends = parse_lease(redis.call('GET', key))
  if holder ~= token or not held(holder, ends) then return false end
  if mode == 'uncount' and (mine == '' or grants == tonumber(mine)) then grants = grants - 1 end
  if mode == 'reset' or grants <= 0 then
    redis.call('DEL', key)
  else
    redis.call('SET', key, tostring(grants), 'KEEPTTL')
  end
  return true
end
