//! Lua scripts for the writes whose TTL change must be atomic with the write,
//! and the TTL arguments of commands.
//!
//! A script stops at the first failing `redis.call`, so a write that fails
//! (wrong type, not a number) leaves the key's TTL untouched, as a `MULTI`
//! would not. Scripts run by `EVALSHA`, loaded on first use (and again after a
//! server restart).

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::{Cmd, Script};
use strata_core::cache::Ttl;

/// Adds to an integer or float and applies the TTL, returning the new value
/// as the stored text (a Lua number would round a 64-bit integer).
///
/// KEYS[1]: key. ARGV: command (`INCRBY`/`INCRBYFLOAT`), delta, TTL mode
/// (`px`/`persist`/`keep`), milliseconds.
pub(super) static INCR_WITH_TTL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call(ARGV[1], KEYS[1], ARGV[2])
if ARGV[3] == 'px' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
elseif ARGV[3] == 'persist' then
  redis.call('PERSIST', KEYS[1])
end
return redis.call('GET', KEYS[1])
",
    )
});

/// Adds values to a list or set and applies the TTL. Values go in chunks:
/// Lua's `unpack` is limited to a few thousand values per call. Returns the
/// new list length (`LPUSH`/`RPUSH`) or the number of new members (`SADD`).
///
/// KEYS[1]: key. ARGV: command, TTL mode (`px`/`persist`/`keep`), milliseconds,
/// values…
pub(super) static ADD_WITH_TTL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cmd, key, n = ARGV[1], KEYS[1], #ARGV
local result = 0
for first = 4, n, 1000 do
  local r = redis.call(cmd, key, unpack(ARGV, first, math.min(first + 999, n)))
  if cmd == 'SADD' then result = result + r else result = r end
end
if ARGV[2] == 'px' then
  redis.call('PEXPIRE', key, ARGV[3])
elseif ARGV[2] == 'persist' then
  redis.call('PERSIST', key)
end
return result
",
    )
});

/// A TTL as script arguments: mode and milliseconds. (Callers send plain
/// commands for `Keep`, which need no script.)
pub(super) fn ttl_args(ttl: Ttl) -> (&'static str, u64) {
    match ttl {
        Ttl::After(after) => ("px", millis(after)),
        Ttl::Persist => ("persist", 0),
        Ttl::Keep => ("keep", 0),
    }
}

/// Whole milliseconds, rounded up so a sub-millisecond TTL still expires
/// later rather than at once (Redis rejects 0).
pub(super) fn millis(duration: Duration) -> u64 {
    let ms = duration.as_nanos().div_ceil(1_000_000).max(1);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// Adds the TTL options of `SET`: none (removes a TTL), `PX`, or `KEEPTTL`.
pub(super) fn set_ttl_args(cmd: &mut Cmd, ttl: Ttl) {
    match ttl {
        Ttl::After(after) => {
            cmd.arg("PX").arg(millis(after));
        }
        Ttl::Keep => {
            cmd.arg("KEEPTTL");
        }
        Ttl::Persist => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_up_and_never_reach_zero() {
        assert_eq!(millis(Duration::from_nanos(1)), 1);
        assert_eq!(millis(Duration::from_micros(1500)), 2);
        assert_eq!(millis(Duration::from_secs(60)), 60_000);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
