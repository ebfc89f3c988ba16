//! Stripe-looking object ids: a prefix and base62 characters from a per-process seed and a counter.

use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Generates unique ids; unique because the first 11 characters encode a bijection of the counter.
#[derive(Debug, Clone)]
pub struct IdGen {
    seed: u64,
    counter: u64,
}

impl Default for IdGen {
    fn default() -> Self {
        Self::new()
    }
}

impl IdGen {
    /// A generator seeded from the wall clock and the process id, so runs do not collide.
    pub fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        IdGen {
            seed: splitmix64(nanos ^ (u64::from(std::process::id()) << 32)),
            counter: 0,
        }
    }

    /// A new id such as `sub_1Q...` (24 characters after the prefix).
    pub fn next(&mut self, prefix: &str) -> String {
        self.with_len(prefix, 24)
    }

    /// A new id with `len` (at least 11) characters after the prefix.
    pub fn with_len(&mut self, prefix: &str, len: usize) -> String {
        format!("{prefix}{}", self.token(len))
    }

    /// `len` random-looking base62 characters, unique for this generator.
    pub fn token(&mut self, len: usize) -> String {
        self.counter += 1;
        let mut x = splitmix64(
            self.seed
                .wrapping_add(self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        let mut out = String::with_capacity(len.max(11));
        out.push_str(&base62_fixed(x));
        while out.len() < len {
            x = splitmix64(x ^ 0xD1B5_4A32_D192_ED03);
            out.push_str(&base62_fixed(x));
        }
        out.truncate(len.max(11));
        out
    }
}

fn base62_fixed(mut x: u64) -> String {
    let mut chars = [b'0'; 11];
    for c in chars.iter_mut().rev() {
        *c = ALPHABET[(x % 62) as usize];
        x /= 62;
    }
    chars.iter().map(|&b| b as char).collect()
}

/// SplitMix64's finaliser: a bijective mix of 64 bits (also used for deterministic drops).
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_prefixed() {
        let mut g = IdGen::new();
        let ids: HashSet<String> = (0..10_000).map(|_| g.next("cus_")).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|i| i.starts_with("cus_") && i.len() == 28));
        assert!(ids
            .iter()
            .all(|i| i[4..].bytes().all(|b| b.is_ascii_alphanumeric())));
    }
}
