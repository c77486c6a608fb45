//! The Lua scripts the Redis store runs, each atomic on the server, so that concurrent
//! processes never lose or corrupt a URI's structure (a hash of variants and a sorted set
//! ordering them, see `RedisStore`'s *Layout*).

use std::sync::LazyLock;

use redis::Script;

/// Stores one variant, bounds the variants, sets the expiry. Keys that hold another type
/// (garbage) are replaced.
///
/// KEYS: the variants hash, the order sorted set.
/// ARGV: variant id, encoded entry, response time (ms), max variants, time to live (ms).
pub(super) static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local h, z = KEYS[1], KEYS[2]
local t = redis.call('TYPE', h)['ok']
if t ~= 'hash' and t ~= 'none' then redis.call('DEL', h) end
t = redis.call('TYPE', z)['ok']
if t ~= 'zset' and t ~= 'none' then redis.call('DEL', z) end
redis.call('HSET', h, ARGV[1], ARGV[2])
redis.call('ZADD', z, ARGV[3], ARGV[1])
local max = tonumber(ARGV[4])
local n = redis.call('ZCARD', z)
if n > max then
  local old = redis.call('ZRANGE', z, 0, n - max - 1)
  redis.call('HDEL', h, unpack(old))
  redis.call('ZREMRANGEBYRANK', z, 0, n - max - 1)
end
if redis.call('HLEN', h) > max then
  for _, f in ipairs(redis.call('HKEYS', h)) do
    if not redis.call('ZSCORE', z, f) then redis.call('HDEL', h, f) end
  end
end
local ttl = tonumber(ARGV[5])
if redis.call('PTTL', h) < ttl then redis.call('PEXPIRE', h, ttl) end
redis.call('PEXPIRE', z, redis.call('PTTL', h))
return redis.call('HLEN', h)
",
    )
});

/// Deletes the given variants (ARGV: field, value, field, value, ...) whose value is still
/// the given one.
pub(super) static DELETE_FIELDS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    n = n + 1
  end
end
return n
",
    )
});

/// Deletes the keys if they hold another type than the store uses.
pub(super) static DELETE_WRONG_TYPES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = 0
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'hash' and t ~= 'none' then n = n + redis.call('DEL', KEYS[1]) end
t = redis.call('TYPE', KEYS[2])['ok']
if t ~= 'zset' and t ~= 'none' then n = n + redis.call('DEL', KEYS[2]) end
return n
",
    )
});
