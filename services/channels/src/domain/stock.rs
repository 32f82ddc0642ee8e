//! Channel allocation: how much of a SKU's sellable stock each shop displays.

use uuid::Uuid;

/// One shop's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Share of the shared pool shown, 0–100.
    pub percent: i32,
    /// Never show more than this.
    pub max: Option<i64>,
    /// Show at least this much while the pool has it.
    pub min: i64,
    /// Set aside for this shop alone: other shops never see it.
    pub reserve: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { percent: 100, max: None, min: 0, reserve: 0 }
    }
}

/// The quantity a shop displays when `available` units are sellable and the other shops of the
/// tenant reserve `others_reserve` between them.
///
/// The shared pool is what the other shops' reserves leave; the shop shows `percent` of it
/// (rounded down), raised to `min` and to its own reserve and lowered to `max` — but never more
/// than the pool, so a shop never displays stock that is promised elsewhere or does not exist.
/// Percentages can add up to more than 100 across shops: that overlap is the seller's choice
/// (each shop's figure is still backed by real stock; reservations prevent the oversell).
pub fn allocate(rules: Rules, available: i64, others_reserve: i64) -> i64 {
    let pool = (available.max(0) - others_reserve.max(0)).max(0);
    let share = pool * i64::from(rules.percent.clamp(0, 100)) / 100;
    let mut q = share.max(rules.min.max(0)).max(rules.reserve.max(0));
    if let Some(max) = rules.max {
        q = q.min(max.max(0));
    }
    q.min(pool)
}

/// A shop as stock planning sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shop {
    pub tenant_id: Uuid,
    pub channel_id: Uuid,
    /// Whether the shop has Open API credentials: only those are pushed to, and only their
    /// reserves are set aside.
    pub syncs: bool,
    pub rules: Rules,
}

/// A quantity a shop should display for a SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub tenant_id: Uuid,
    pub channel_id: Uuid,
    pub sku_code: String,
    pub desired: i64,
}

/// What each syncing shop of `shops` (one tenant's) should display for each `(sku, available)`,
/// by its rules; the reserves of the other syncing shops are taken out first.
pub fn plan(shops: &[Shop], levels: &[(String, i64)]) -> Vec<Push> {
    let syncing: Vec<&Shop> = shops.iter().filter(|s| s.syncs).collect();
    let total_reserve: i64 = syncing.iter().map(|s| s.rules.reserve.max(0)).sum();
    let mut out = Vec::with_capacity(syncing.len() * levels.len());
    for s in &syncing {
        for (sku, available) in levels {
            out.push(Push {
                tenant_id: s.tenant_id,
                channel_id: s.channel_id,
                sku_code: sku.clone(),
                desired: allocate(s.rules, *available, total_reserve - s.rules.reserve.max(0)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_by_default() {
        assert_eq!(allocate(Rules::default(), 120, 0), 120);
        assert_eq!(allocate(Rules::default(), 0, 0), 0);
        assert_eq!(allocate(Rules::default(), -3, 0), 0, "an oversold level shows nothing");
    }

    #[test]
    fn percent_rounds_down_and_max_caps() {
        let r = Rules { percent: 30, ..Rules::default() };
        assert_eq!(allocate(r, 10, 0), 3);
        assert_eq!(allocate(r, 9, 0), 2);
        assert_eq!(allocate(Rules { max: Some(50), ..Rules::default() }, 120, 0), 50);
    }

    #[test]
    fn min_and_reserve_raise_but_never_past_the_pool() {
        let r = Rules { percent: 10, min: 5, ..Rules::default() };
        assert_eq!(allocate(r, 20, 0), 5);
        assert_eq!(allocate(r, 3, 0), 3, "min never shows stock that is not there");
        let r = Rules { percent: 0, reserve: 8, ..Rules::default() };
        assert_eq!(allocate(r, 20, 0), 8);
    }

    #[test]
    fn other_shops_reserves_are_taken_out_first() {
        assert_eq!(allocate(Rules::default(), 100, 30), 70);
        assert_eq!(allocate(Rules::default(), 20, 30), 0);
        // Shop A reserves 10, shop B everything else at 100 %.
        assert_eq!(allocate(Rules { reserve: 10, percent: 0, ..Rules::default() }, 25, 0), 10);
        assert_eq!(allocate(Rules::default(), 25, 10), 15);
    }

    fn shop(n: u128, syncs: bool, rules: Rules) -> Shop {
        Shop { tenant_id: Uuid::from_u128(1), channel_id: Uuid::from_u128(n), syncs, rules }
    }

    #[test]
    fn plan_pushes_to_syncing_shops_only_and_sets_their_reserves_apart() {
        let a = shop(10, true, Rules { reserve: 10, percent: 0, ..Rules::default() });
        let b = shop(11, true, Rules::default());
        let push_only = shop(12, false, Rules { reserve: 1000, ..Rules::default() });
        let plan = plan(&[a, b, push_only], &[("TEE".into(), 25), ("MUG".into(), 5)]);
        let got: Vec<(u128, &str, i64)> =
            plan.iter().map(|p| (p.channel_id.as_u128(), p.sku_code.as_str(), p.desired)).collect();
        // The push-only shop's reserve is not taken out: nothing is pushed to it.
        assert_eq!(got, [(10, "TEE", 10), (10, "MUG", 5), (11, "TEE", 15), (11, "MUG", 0)]);
        assert!(plan.iter().all(|p| p.tenant_id == Uuid::from_u128(1)));
    }

    #[test]
    fn plan_without_syncing_shops_or_levels_is_empty() {
        assert!(plan(&[shop(1, false, Rules::default())], &[("TEE".into(), 3)]).is_empty());
        assert!(plan(&[shop(1, true, Rules::default())], &[]).is_empty());
    }
}
