//! The Lua scripts: each check is one EVALSHA (EVAL when the server does not know it yet), atomic on the
//! server, timed by the server's clock (`TIME`), so replicas with skewed clocks agree. Plain EVAL only (no
//! functions, no modules): Redis 6/7 and Valkey alike. Redis 7 replicates the effects of scripts, so `TIME`
//! inside one is safe.

use redis::Script;
use std::sync::LazyLock;

/// GCRA rate limit. KEYS[1] the bucket; ARGV[1] emission interval (µs), ARGV[2] burst. Returns 0 when a request
/// is allowed, else the wait in µs before the next one is. The key holds the theoretical arrival time and
/// expires once the bucket is full again.
pub static TAKE_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allowed_at = new_tat - burst * interval
if allowed_at > now then
  return math.ceil(allowed_at - now)
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
",
    )
});

/// Milliseconds of the server's clock, at the top of the lockout scripts.
macro_rules! now_ms {
    () => {
        "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    };
}

/// Lock check (reads only). KEYS[1] the counter's hash (`f` failures, `w` window end, `l` locked until, ms).
/// Returns the remaining lock in ms, 0 when not locked.
pub static LOCKED_FOR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        now_ms!(),
        r"
local l = tonumber(redis.call('HGET', KEYS[1], 'l')) or 0
if l > now then return l - now end
return 0
"
    ))
});

/// Reservation. KEYS[1] the hash, KEYS[2] the sorted set of reservations in progress (scored by their expiry);
/// ARGV[1] max, ARGV[2] hold (ms), ARGV[3] ticket. Returns 0 when a place was taken, the remaining lock in ms
/// when locked, -1 when failures + reservations fill every place. A lock or window that is over is forgotten;
/// reservations older than the hold (their replica died mid-check) are dropped.
pub static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        now_ms!(),
        r"
local h = redis.call('HMGET', KEYS[1], 'f', 'w', 'l')
local f = tonumber(h[1]) or 0
local w = tonumber(h[2]) or 0
local l = tonumber(h[3]) or 0
if l > now then return l - now end
if l > 0 or (w > 0 and w <= now) then
  redis.call('DEL', KEYS[1])
  f = 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if f + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return -1 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]))
return 0
"
    ))
});

/// Settlement. KEYS[1], KEYS[2] as [`RESERVE`], KEYS[3] the index of the namespace's counters (a sorted set of
/// counter names scored by when their hash expires, for [`LIST`]); ARGV[1] ticket, ARGV[2] verdict
/// (`accepted`, `refused`, `none`), ARGV[3] `1` when an accepted login clears the failures, ARGV[4] max,
/// ARGV[5] window (ms), ARGV[6] lockout (ms), ARGV[7] the counter's name in the index. Gives the place back; a
/// refusal counts a failure in the window (starting one if none runs) and the one that reaches max locks.
/// Returns 1 when this locked, else 0. The hash expires with its window or lock, its index entry then too.
pub static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        now_ms!(),
        r"
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] == 'accepted' then
  if ARGV[3] == '1' then redis.call('HDEL', KEYS[1], 'f', 'w') end
  return 0
end
if ARGV[2] ~= 'refused' then return 0 end
local h = redis.call('HMGET', KEYS[1], 'f', 'w', 'l')
local f = tonumber(h[1]) or 0
local w = tonumber(h[2]) or 0
local l = tonumber(h[3]) or 0
local lockout = tonumber(ARGV[6])
if w <= now then
  f = 0
  w = now + tonumber(ARGV[5])
end
f = f + 1
if f >= tonumber(ARGV[4]) then
  redis.call('HDEL', KEYS[1], 'f', 'w')
  redis.call('HSET', KEYS[1], 'l', now + lockout)
  redis.call('PEXPIRE', KEYS[1], lockout)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  redis.call('ZADD', KEYS[3], now + lockout, ARGV[7])
  return 1
end
redis.call('HSET', KEYS[1], 'f', f, 'w', w)
local ttl = w - now
if l - now > ttl then ttl = l - now end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZADD', KEYS[3], now + ttl, ARGV[7])
return 0
"
    ))
});

/// A counter's fields `f`, `w`, `l` (read into `h`) at `now`: `f` (failures in a running
/// window) and `left` (ms of a running lock).
macro_rules! lock_state {
    () => {
        r"
local f = tonumber(h[1]) or 0
local w = tonumber(h[2]) or 0
local l = tonumber(h[3]) or 0
local left = 0
if l > now then left = l - now end
if w <= now then f = 0 end
"
    };
}

/// Listing for the admin API. KEYS[1] the namespace's index (see [`SETTLE`]); ARGV[1] the most to return,
/// ARGV[2] the hash keys' prefix (`authgate:lo:`). Drops index entries whose hash has expired, then returns
/// `{name, failures, lock left in ms}` for each counter with failures in a running window or a running lock.
/// The hashes are named by the index, not in KEYS: a single Redis/Valkey server, as every script here.
pub static LIST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        now_ms!(),
        r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local names = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, name in ipairs(names) do
  local h = redis.call('HMGET', ARGV[2] .. name, 'f', 'w', 'l')
",
        lock_state!(),
        r"
  if f > 0 or left > 0 then table.insert(out, {name, f, left}) end
end
return out
"
    ))
});

/// An administrator's unlock. KEYS[1] the counter's hash, KEYS[2] its namespace's index; ARGV[1] its name in
/// the index. Forgets failures and lock (reservations in progress keep their places); returns
/// `{failures, lock left in ms}` as they were.
pub static CLEAR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        now_ms!(),
        "local h = redis.call('HMGET', KEYS[1], 'f', 'w', 'l')\n",
        lock_state!(),
        r"
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {f, left}
"
    ))
});
