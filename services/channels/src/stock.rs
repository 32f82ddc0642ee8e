//! Channel allocation: how much of a SKU's sellable stock each shop displays.

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
}
