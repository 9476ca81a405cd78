//! The sample's pseudo-random numbers: SplitMix64, written out here.
//!
//! A sample must be the same for a given size and seed forever: tests, bug reports and benchmarks
//! name a seed. A library's generator may change its stream between versions, so the generator is
//! part of this crate. SplitMix64 (Steele, Lea and Flood, 2014; reference: Vigna's
//! `splitmix64.c`) is a few lines, fast, and plenty for test data. It is not for cryptography.

use std::collections::BTreeSet;

/// The SplitMix64 increment (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A SplitMix64 generator.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// The generator whose first output is SplitMix64's first output for `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// An independent stream for one part of the sample: `part` names the area ("machines",
    /// "history"), `index` the item within it. Each area draws from its own stream, so that
    /// changing what one area generates does not change the others.
    pub(crate) fn stream(seed: u64, part: &str, index: u64) -> Self {
        // FNV-1a of the part's name: fixed forever, unlike the standard library's hashers.
        let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
        for byte in part.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3);
        }
        Rng::new(mix(seed ^ mix(hash ^ mix(index.wrapping_add(GAMMA)))))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// A number in `0..n` (`n > 0`), by multiply-and-shift: deterministic, and unbiased enough
    /// for sample data.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A number in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with the given probability, in percent.
    pub(crate) fn percent(&mut self, chance: usize) -> bool {
        self.below(100) < chance
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `k` distinct numbers of `0..n` (all of them when `k >= n`), ascending (Floyd's algorithm).
    pub(crate) fn indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut chosen = BTreeSet::new();
        for j in n.saturating_sub(k)..n {
            let t = self.below(j + 1);
            if !chosen.insert(t) {
                chosen.insert(j);
            }
        }
        chosen.into_iter().collect()
    }

    /// `k` distinct items of `items`, in their order.
    pub(crate) fn some<'a, T>(&mut self, items: &'a [T], k: usize) -> Vec<&'a T> {
        self.indices(items.len(), k)
            .into_iter()
            .map(|i| &items[i])
            .collect()
    }

    /// `digits` lowercase hexadecimal digits.
    pub(crate) fn hex(&mut self, digits: usize) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(digits);
        let mut bits = 0;
        let mut word = 0;
        for _ in 0..digits {
            if bits == 0 {
                word = self.next_u64();
                bits = 64;
            }
            out.push(char::from(HEX[(word & 15) as usize]));
            word >>= 4;
            bits -= 4;
        }
        out
    }

    /// A random version-4-looking GUID.
    pub(crate) fn guid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_splitmix64() {
        // The first outputs of Vigna's splitmix64.c for seed 1234567.
        let mut rng = Rng::new(1_234_567);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            first,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423
            ]
        );
    }

    #[test]
    fn streams_are_fixed_and_independent() {
        let a = Rng::stream(7, "machines", 3).next_u64();
        assert_eq!(a, Rng::stream(7, "machines", 3).next_u64());
        assert_ne!(a, Rng::stream(7, "machines", 4).next_u64());
        assert_ne!(a, Rng::stream(7, "tenants", 3).next_u64());
        assert_ne!(a, Rng::stream(8, "machines", 3).next_u64());
    }

    #[test]
    fn indices_are_distinct_sorted_and_in_range() {
        let mut rng = Rng::new(1);
        for (n, k) in [(10, 3), (5, 5), (4, 9), (100, 40), (1, 0)] {
            let chosen = rng.indices(n, k);
            assert_eq!(chosen.len(), k.min(n));
            assert!(chosen.windows(2).all(|w| w[0] < w[1]));
            assert!(chosen.iter().all(|&i| i < n));
        }
    }
}
