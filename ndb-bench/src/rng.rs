//! A small, fast pseudo-random generator for masks and key choice.
//!
//! Nothing here needs to resist an adversary: RFC 6455 masks only have to be
//! unpredictable to intermediaries, and keys only have to be spread evenly.
//! One generator per connection, so there is no shared state between threads.

use std::hash::{BuildHasher, Hasher, RandomState};

/// Xorshift64* generator (Marsaglia's xorshift with a multiplicative output step).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from the operating system's randomness (through
    /// `RandomState`), mixed with `stream` so generators made together differ.
    pub fn from_os(stream: u64) -> Rng {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(stream);
        Rng::new(hasher.finish())
    }

    /// A generator with a fixed seed, for reproducible tests. Any seed is fine,
    /// zero included (the state is scrambled first so it is never zero).
    pub fn new(seed: u64) -> Rng {
        let state = splitmix64(seed);
        Rng(if state == 0 { 0x9E37_79B9_7F4A_7C15 } else { state })
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Four random bytes, for a frame's masking key.
    #[inline]
    pub fn mask(&mut self) -> [u8; 4] {
        ((self.next_u64() >> 32) as u32).to_ne_bytes()
    }

    /// A number in `[0, n)`, by multiply-shift (no division, bias below 2^-32
    /// for any `n` this tool uses). `n` must be non-zero.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// One step of SplitMix64, used to spread a seed over all 64 bits.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let v = rng.below(10);
            assert!(v < 10);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn zero_seed_still_produces_numbers() {
        let mut rng = Rng::new(0);
        let a = rng.next_u64();
        let b = rng.next_u64();
        assert_ne!(a, b);
        assert_ne!(a, 0);
    }

    #[test]
    fn os_seeded_generators_differ() {
        assert_ne!(Rng::from_os(1).next_u64(), Rng::from_os(2).next_u64());
    }
}
