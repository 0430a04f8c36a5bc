//! Deterministic variant assignment, compatible with GrowthBook's SDK
//! hashing (version 2), so a user lands in the same variant here as in a
//! GrowthBook SDK given the same seed and weights.

use super::experiment::Variant;

/// FNV-1a, 32 bit, over UTF-16 code units (as JavaScript strings are).
pub fn fnv1a32(text: &str) -> u32 {
    text.encode_utf16().fold(0x811c_9dc5u32, |hash, unit| (hash ^ u32::from(unit)).wrapping_mul(0x0100_0193))
}

/// GrowthBook hash version 2: a number in [0, 1) with 4 decimals.
pub fn bucket(seed: &str, value: &str) -> f64 {
    let inner = fnv1a32(&format!("{seed}{value}"));
    f64::from(fnv1a32(&inner.to_string()) % 10_000) / 10_000.0
}

/// The variant whose cumulative weight range holds `bucket`.
pub fn choose(variants: &[Variant], bucket: f64) -> Option<&Variant> {
    let total: f64 = variants.iter().map(|v| v.weight).sum();
    if total <= 0.0 {
        return None;
    }
    let mut start = 0.0;
    for variant in variants {
        let end = start + variant.weight / total;
        if bucket >= start && bucket < end {
            return Some(variant);
        }
        start = end;
    }
    // Rounding can leave the very top uncovered; it belongs to the last.
    variants.last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_growthbook_hash_v2_vectors() {
        assert_eq!(bucket("seed", "a"), 0.0505);
        assert_eq!(bucket("foo", "ab"), 0.2575);
    }

    #[test]
    fn fnv_matches_published_vectors() {
        // FNV-1a 32-bit of "" and "a" (ASCII, so UTF-16 units equal bytes).
        assert_eq!(fnv1a32(""), 0x811c9dc5);
        assert_eq!(fnv1a32("a"), 0xe40c292c);
    }

    #[test]
    fn chooses_by_cumulative_weight() {
        let variants = vec![
            Variant { name: "A".into(), weight: 20.0 },
            Variant { name: "B".into(), weight: 30.0 },
            Variant { name: "C".into(), weight: 50.0 },
        ];
        let name = |b| choose(&variants, b).unwrap().name.clone();
        assert_eq!(name(0.0), "A");
        assert_eq!(name(0.1999), "A");
        assert_eq!(name(0.2), "B");
        assert_eq!(name(0.4999), "B");
        assert_eq!(name(0.5), "C");
        assert_eq!(name(0.9999), "C");
    }

    #[test]
    fn splits_traffic_close_to_the_weights() {
        let variants =
            vec![Variant { name: "A".into(), weight: 70.0 }, Variant { name: "B".into(), weight: 30.0 }];
        let a = (0..20_000)
            .filter(|i| choose(&variants, bucket("exp", &format!("user-{i}"))).unwrap().name == "A")
            .count();
        let share = a as f64 / 20_000.0;
        assert!((share - 0.7).abs() < 0.02, "{share}");
    }
}
