//! Delivery tokens of the memory provider: a process-wide counter, written as
//! decimal digits in the [`DeliveryHandle`], and the map of leased deliveries
//! keyed by them.
//!
//! Every delivery makes a token and every ack parses one back, so both avoid
//! the general machinery: digits are written straight into a string of the
//! right capacity, and the map hashes the (sequential) integers with one
//! multiplication instead of SipHash, which defends against adversarial keys
//! that a counter the provider chose itself cannot be.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use strata_core::pubsub::DeliveryHandle;
use strata_core::{Error, Result};

/// Tokens are unique in the process, so a handle from another subscription
/// (or an earlier delivery) is simply unknown.
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// Reserves `count` consecutive tokens; returns the first.
pub(super) fn reserve(count: usize) -> u64 {
    NEXT_TOKEN.fetch_add(count as u64, Ordering::Relaxed)
}

/// The handle carrying `token`: its decimal digits.
pub(super) fn handle(token: u64) -> DeliveryHandle {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = token;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let text = digits[start..].iter().map(|&d| char::from(d)).collect();
    DeliveryHandle(text)
}

/// The token in `handle`, or `InvalidArgument` if it is not one of ours.
pub(super) fn parse(handle: &DeliveryHandle) -> Result<u64> {
    let text = handle.0.as_bytes();
    let valid = !text.is_empty() && text.len() <= 20 && text.iter().all(u8::is_ascii_digit);
    let token = valid.then(|| {
        text.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    });
    token.flatten().ok_or_else(|| {
        Error::invalid_argument(format!(
            "`{}` is not a delivery handle of the memory provider",
            handle.0
        ))
    })
}

/// A map keyed by tokens.
pub(super) type TokenMap<V> = HashMap<u64, V, BuildHasherDefault<TokenHasher>>;

/// Hashes a token with one multiplication (Fibonacci hashing): sequential
/// tokens spread over the whole range, high bits included, which the map's
/// control bytes are taken from.
#[derive(Default)]
pub(super) struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used for tokens; anything else still hashes.
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_foreign_ones_are_rejected() {
        for token in [0, 1, 9, 10, 12_345, u64::MAX] {
            let handle = handle(token);
            assert_eq!(handle.0, token.to_string());
            assert_eq!(parse(&handle).unwrap(), token);
        }
        for bad in [
            "",
            "x1",
            "1x",
            "-1",
            " 1",
            "18446744073709551616",
            "123456789012345678901",
        ] {
            assert!(parse(&DeliveryHandle(bad.to_owned())).is_err(), "{bad:?}");
        }
    }
}
