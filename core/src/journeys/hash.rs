//! Sticky assignment for splits and holdouts: a stable hash of (person, journey, node).
//!
//! Invariant: the same inputs give the same percentile on every platform and release (FNV-1a
//! over the bytes, finalised with splitmix64) — no randomness, so a person always takes the
//! same split path and stays in (or out of) the holdout group.

/// A stable 64-bit FNV-1a hash of the parts (separated by NUL), for sticky splits.
pub fn sticky_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        // Each part ends with a NUL, so ("ab", "c") and ("a", "bc") differ.
        for b in p.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // Finalise (splitmix64) so nearby inputs spread over the low digits `% 100` reads.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The sticky percentile (0..100) of a person at a journey's node.
pub fn percentile(user: &str, journey: &str, node: &str) -> u8 {
    u8::try_from(sticky_hash(&[user, journey, node]) % 100).unwrap_or(0)
}
