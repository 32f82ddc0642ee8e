//! The marketplace's own ids for items and variants (`num_iid`, `sku_id`), stable per shop and
//! code so that a restarted simulator, or a second one with the same shops, names the same
//! variant the same way — Cairn's product mappings are keyed by them.

/// FNV-1a, 64 bits, finalised: tiny and, unlike `std`'s hasher, the same on every build.
pub(crate) fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    // FNV's high bits mix poorly over similar short keys; SplitMix64's finaliser spreads them.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The item id of a product of a shop: 12 digits starting with 6, like `680012345678`.
pub fn num_iid(shop_id: &str, product: &str) -> String {
    (600_000_000_000 + fnv1a(&["item", shop_id, product]) % 100_000_000_000).to_string()
}

/// The variant id of a SKU of a shop: 13 digits starting with 5, like `5012345678901`.
/// `attempt` > 0 draws another one (for the rare clash inside a shop).
pub fn sku_id(shop_id: &str, code: &str, attempt: u32) -> String {
    let attempt = attempt.to_string();
    (5_000_000_000_000 + fnv1a(&["sku", shop_id, code, &attempt]) % 1_000_000_000_000).to_string()
}

/// Whether the seller set no merchant code on this variant, for a share of variants: a fixed
/// draw per (seed, shop, code), so the same variant keeps its answer across runs and the share
/// holds over any set of variants without consuming the generator's random numbers.
pub fn lacks_merchant_code(seed: u64, shop_id: &str, code: &str, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    let seed = seed.to_string();
    let draw = fnv1a(&["no-merchant-code", &seed, shop_id, code]) >> 11;
    (draw as f64 / (1u64 << 53) as f64) < share
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_look_like_bazaar_ids() {
        assert_eq!(num_iid("shop-8848", "TEE"), num_iid("shop-8848", "TEE"));
        assert_ne!(num_iid("shop-8848", "TEE"), num_iid("shop-9527", "TEE"));
        assert_eq!(num_iid("s", "TEE").len(), 12);
        assert_eq!(sku_id("s", "TEE-RED-M", 0).len(), 13);
        assert_ne!(sku_id("s", "TEE-RED-M", 0), sku_id("s", "TEE-RED-M", 1));
    }

    #[test]
    fn the_merchant_code_share_holds() {
        let n = (0..10_000).filter(|i| lacks_merchant_code(7, "shop", &format!("SKU-{i}"), 0.15)).count();
        assert!((1350..1650).contains(&n), "{n}");
        assert!(!(0..1000).any(|i| lacks_merchant_code(7, "shop", &format!("SKU-{i}"), 0.0)));
        assert!((0..1000).all(|i| lacks_merchant_code(7, "shop", &format!("SKU-{i}"), 1.0)));
    }
}
