//! Product mapping (商品对应): which Cairn SKU a marketplace line sells. A shop's mapping from
//! the marketplace's item and variant comes first; without one, the line's merchant code is
//! taken as the SKU code; without either, the line is unmapped (its order waits, on hold).

use kernel::{
    events::{LineSku, Mapping},
    trade::TradeLine,
};
use std::collections::HashMap;

/// A marketplace variant as a key: the item, and the variant or `""` for an item without
/// variants (stored that way, since a key column cannot be null).
pub type VariantKey = (String, String);

/// The key of an item's variant.
pub fn variant_key(item_id: &str, variant_id: Option<&str>) -> VariantKey {
    (item_id.to_owned(), variant_id.unwrap_or_default().to_owned())
}

/// The variant a stored key names (`""` is no variant).
pub fn variant_of(stored: &str) -> Option<String> {
    (!stored.is_empty()).then(|| stored.to_owned())
}

/// One variant of a shop, as the marketplace describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub item_id: String,
    pub variant_id: Option<String>,
    pub title: String,
    pub properties: Option<String>,
    pub merchant_code: Option<String>,
}

impl Variant {
    /// The variant a trade line sells (`None` for a line without an item id).
    pub fn of_line(l: &TradeLine) -> Option<Variant> {
        Some(Variant {
            item_id: l.item_id.clone()?,
            variant_id: l.variant_id.clone(),
            title: l.title.clone(),
            properties: l.properties.clone(),
            merchant_code: l.sku_code.clone(),
        })
    }
}

/// The SKU `line` sells, given the shop's mappings.
pub fn resolve(line: &TradeLine, mappings: &HashMap<VariantKey, String>) -> LineSku {
    let mapped = line.item_id.as_deref().and_then(|i| mappings.get(&variant_key(i, line.variant_id.as_deref())));
    let (sku_code, mapping) = match (mapped, line.sku_code.as_deref().map(str::trim).filter(|c| !c.is_empty())) {
        (Some(sku), _) => (Some(sku.clone()), Mapping::Mapped),
        (None, Some(code)) => (Some(code.to_owned()), Mapping::MerchantCode),
        (None, None) => (None, Mapping::Unmapped),
    };
    LineSku { external_line_id: line.external_line_id.clone(), sku_code, mapping }
}

/// [`resolve`] for every line, in order.
pub fn resolve_all(lines: &[TradeLine], mappings: &HashMap<VariantKey, String>) -> Vec<LineSku> {
    lines.iter().map(|l| resolve(l, mappings)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::Money;

    fn line(item: Option<&str>, variant: Option<&str>, code: Option<&str>) -> TradeLine {
        TradeLine {
            external_line_id: "O1".into(),
            item_id: item.map(Into::into),
            variant_id: variant.map(Into::into),
            sku_code: code.map(Into::into),
            properties: None,
            title: "纯棉T恤".into(),
            quantity: 1,
            unit_price: Money(100),
            payment: Money(100),
            refund_status: "NO_REFUND".into(),
        }
    }

    #[test]
    fn a_mapping_wins_then_the_merchant_code_then_nothing() {
        let mappings = HashMap::from([(variant_key("680", Some("501")), "TEE-RED-M".to_owned())]);
        let r = resolve(&line(Some("680"), Some("501"), Some("OLD-CODE")), &mappings);
        assert_eq!((r.sku_code.as_deref(), r.mapping), (Some("TEE-RED-M"), Mapping::Mapped));
        let r = resolve(&line(Some("680"), Some("502"), Some("TEE-BLK-L")), &mappings);
        assert_eq!((r.sku_code.as_deref(), r.mapping), (Some("TEE-BLK-L"), Mapping::MerchantCode));
        let r = resolve(&line(Some("680"), Some("502"), Some("  ")), &mappings);
        assert_eq!((r.sku_code, r.mapping), (None, Mapping::Unmapped));
        let r = resolve(&line(None, None, None), &mappings);
        assert_eq!(r.mapping, Mapping::Unmapped);
    }

    #[test]
    fn an_item_without_variants_maps_by_the_item_alone() {
        let mappings = HashMap::from([(variant_key("777", None), "MUG".to_owned())]);
        assert_eq!(resolve(&line(Some("777"), None, None), &mappings).sku_code.as_deref(), Some("MUG"));
        assert_eq!(resolve(&line(Some("777"), Some("1"), None), &mappings).mapping, Mapping::Unmapped);
        assert_eq!(variant_of(""), None);
        assert_eq!(variant_of("501").as_deref(), Some("501"));
    }
}
