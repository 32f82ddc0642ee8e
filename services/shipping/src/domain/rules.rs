//! Carrier rules: which carrier account draws a shipment's waybill. An ordered list of
//! conditions → account, first match wins, then the default.

use super::{Settings, Shipment};
use kernel::Money;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Conditions of one rule; every condition given must hold (an empty list or `None` is "any").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct When {
    /// The receiver's province (a trailing 省/市/自治区 ignored, e.g. `浙江` = `浙江省`).
    #[serde(default)]
    pub provinces: Vec<String>,
    #[serde(default)]
    pub min_weight_grams: Option<i64>,
    #[serde(default)]
    pub max_weight_grams: Option<i64>,
    /// The shipment's payment (the sum of its orders'), in fen.
    #[serde(default)]
    pub min_payment: Option<i64>,
    #[serde(default)]
    pub max_payment: Option<i64>,
    /// Any line sells one of these SKUs.
    #[serde(default)]
    pub sku_codes: Vec<String>,
    /// Any order came from one of these shops.
    #[serde(default)]
    pub channel_ids: Vec<Uuid>,
    #[serde(default)]
    pub warehouses: Vec<String>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub when: When,
    pub account_id: Uuid,
}

/// The seller's rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rules {
    pub rules: Vec<Rule>,
    pub default_account_id: Option<Uuid>,
}

/// Most rules a seller may keep.
pub const MAX_RULES: usize = 200;

/// `浙江省` → `浙江`, `上海市` → `上海`, `广西壮族自治区` → `广西`: what people write.
pub fn province_stem(p: &str) -> &str {
    let p = p.trim();
    for suffix in ["维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市"]
    {
        if let Some(s) = p.strip_suffix(suffix)
            && !s.is_empty()
        {
            return s;
        }
    }
    p
}

/// The estimated weight of `s`: its own when set, else units × the seller's unit weight.
pub fn weight_of(s: &Shipment, settings: &Settings) -> i64 {
    if s.weight_grams > 0 { s.weight_grams } else { s.units() * settings.unit_weight_grams }
}

impl When {
    fn matches(&self, s: &Shipment, settings: &Settings) -> bool {
        let weight = weight_of(s, settings);
        let payment: i64 = s.orders.iter().map(|o| o.payment.0).sum();
        (self.provinces.is_empty()
            || self.provinces.iter().any(|p| province_stem(p) == province_stem(&s.receiver.province)))
            && self.min_weight_grams.is_none_or(|m| weight >= m)
            && self.max_weight_grams.is_none_or(|m| weight <= m)
            && self.min_payment.is_none_or(|m| payment >= m)
            && self.max_payment.is_none_or(|m| payment <= m)
            && (self.sku_codes.is_empty() || s.lines.iter().any(|l| self.sku_codes.contains(&l.sku_code)))
            && (self.channel_ids.is_empty() || s.orders.iter().any(|o| self.channel_ids.contains(&o.channel_id)))
            && (self.warehouses.is_empty() || self.warehouses.contains(&s.warehouse_code))
    }
}

impl Rules {
    /// The account that draws `s`'s waybill, and the rule that chose it (`None`: the default).
    pub fn account_for(&self, s: &Shipment, settings: &Settings) -> Option<(Uuid, Option<&str>)> {
        self.rules
            .iter()
            .find(|r| r.when.matches(s, settings))
            .map(|r| (r.account_id, Some(r.name.as_str())))
            .or(self.default_account_id.map(|a| (a, None)))
    }

    /// Every account the rules name.
    pub fn accounts(&self) -> Vec<Uuid> {
        let mut v: Vec<Uuid> = self.rules.iter().map(|r| r.account_id).chain(self.default_account_id).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Checks the rules' own fields (the accounts are checked against the store).
    pub fn validate(&self) -> Result<(), String> {
        if self.rules.len() > MAX_RULES {
            return Err(format!("at most {MAX_RULES} rules"));
        }
        for (i, r) in self.rules.iter().enumerate() {
            let n = i + 1;
            if r.name.trim().is_empty() || r.name.chars().count() > 64 {
                return Err(format!("rule {n}: name must be 1-64 characters"));
            }
            let w = &r.when;
            for (lo, hi, what) in
                [(w.min_weight_grams, w.max_weight_grams, "weight"), (w.min_payment, w.max_payment, "payment")]
            {
                if lo.is_some_and(|v| v < 0) || hi.is_some_and(|v| v < 0) {
                    return Err(format!("rule {n}: {what} bounds must not be negative"));
                }
                if let (Some(lo), Some(hi)) = (lo, hi)
                    && lo > hi
                {
                    return Err(format!("rule {n}: min {what} is above max {what}"));
                }
            }
            if w.provinces.len() + w.sku_codes.len() + w.channel_ids.len() + w.warehouses.len() > 1000 {
                return Err(format!("rule {n}: at most 1000 values in its conditions"));
            }
        }
        Ok(())
    }
}

/// The payment of orders, in fen.
pub fn payment_of(orders: &[super::OrderRef]) -> Money {
    Money(orders.iter().map(|o| o.payment.0).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Line, OrderRef, Status};
    use chrono::TimeZone;
    use kernel::trade::Receiver;

    fn shipment(province: &str, units: i64, payment: i64) -> Shipment {
        let t = chrono::Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let order = Uuid::now_v7();
        Shipment {
            id: Uuid::now_v7(),
            warehouse_code: "HZ".into(),
            merge_key: "k".into(),
            status: Status::Pending,
            orders: vec![OrderRef {
                order_id: order,
                channel_id: Uuid::nil(),
                external_id: "T1".into(),
                paid_at: None,
                payment: Money(payment),
                seq: (0, t),
                holds: vec![],
            }],
            lines: vec![Line {
                order_id: order,
                external_line_id: "O1".into(),
                sku_code: "TEE".into(),
                title: "T".into(),
                quantity: units,
            }],
            receiver: Receiver { province: province.into(), ..Receiver::default() },
            opened_at: t,
            waybill: None,
            parcels: 1,
            weight_grams: 0,
            problem: None,
            print_count: 0,
            tracking: None,
            shipped_at: None,
            delivered_at: None,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn first_matching_rule_wins_then_the_default() {
        let (sf, zto, yto) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let rules = Rules {
            rules: vec![
                Rule {
                    name: "heavy".into(),
                    when: When { min_weight_grams: Some(3000), ..When::default() },
                    account_id: sf,
                },
                Rule {
                    name: "江浙沪".into(),
                    when: When {
                        provinces: vec!["浙江".into(), "江苏省".into(), "上海".into()], ..When::default()
                    },
                    account_id: zto,
                },
            ],
            default_account_id: Some(yto),
        };
        let st = Settings::default();
        assert_eq!(rules.account_for(&shipment("浙江省", 1, 100), &st), Some((zto, Some("江浙沪"))));
        assert_eq!(rules.account_for(&shipment("上海市", 1, 100), &st), Some((zto, Some("江浙沪"))));
        assert_eq!(rules.account_for(&shipment("浙江省", 20, 100), &st), Some((sf, Some("heavy"))));
        assert_eq!(rules.account_for(&shipment("四川省", 1, 100), &st), Some((yto, None)));
        assert_eq!(Rules { default_account_id: None, ..rules }.account_for(&shipment("四川省", 1, 1), &st), None);
    }

    #[test]
    fn province_stems() {
        assert_eq!(province_stem("新疆维吾尔自治区"), "新疆");
        assert_eq!(province_stem("广西壮族自治区"), "广西");
        assert_eq!(province_stem("北京市"), "北京");
        assert_eq!(province_stem(" 浙江省 "), "浙江");
        assert_eq!(province_stem("市"), "市");
    }

    #[test]
    fn bounds_are_validated() {
        let r = |w: When| Rules {
            rules: vec![Rule { name: "r".into(), when: w, account_id: Uuid::nil() }],
            default_account_id: None,
        };
        assert!(
            r(When { min_weight_grams: Some(5), max_weight_grams: Some(4), ..When::default() }).validate().is_err()
        );
        assert!(r(When { min_payment: Some(-1), ..When::default() }).validate().is_err());
        assert!(r(When::default()).validate().is_ok());
    }
}
