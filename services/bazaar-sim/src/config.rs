//! The simulator's settings: flags of `cairn sim` (a `clap::Args` to flatten into the binary's
//! command), the runtime-adjustable chaos knobs, the traffic knobs (what the seller's
//! catalogue and the generated trades look like), and Courier's chaos and tracking schedule.

use crate::domain::courier::routing;
use crate::domain::courier::{Carrier, TrackingStatus};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How the simulator runs. `Default` equals the flags' defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct SimConfig {
    /// Address of the simulator's HTTP server (Open API under /api/v1, admin under /admin).
    #[arg(long, env = "CAIRN_SIM_LISTEN", default_value = "127.0.0.1:7700")]
    pub listen: SocketAddr,

    /// Load the marketplace from this JSON file at start (if present) and save it on shutdown.
    #[arg(long, env = "CAIRN_SIM_STATE_FILE")]
    pub state_file: Option<PathBuf>,

    /// Seed of the generators (buyers, addresses, traffic); random when absent.
    #[arg(long)]
    pub seed: Option<u64>,

    /// The app key Bazaar issued to Cairn; new shops authorise this app unless told otherwise.
    #[arg(long, default_value = "cairn-erp")]
    pub app_key: String,

    /// The app secret of `--app-key`; random when absent.
    #[arg(long, env = "CAIRN_SIM_APP_SECRET")]
    pub app_secret: Option<String>,

    /// Create this many demo shops (with catalog items) at start.
    #[arg(long, default_value_t = 0)]
    pub shops: usize,

    /// Start a trickle of realistic trades over every shop at start (trades per minute; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    pub trickle_per_minute: f64,

    /// Close unpaid trades after this many seconds (0 = never by itself).
    #[arg(long, default_value_t = 0.0)]
    pub pay_timeout_secs: f64,

    /// Webhook requests in flight at most.
    #[arg(long, default_value_t = 128)]
    pub webhook_concurrency: usize,

    /// A webhook answered slower than this is a failed attempt (BAZAAR.md: 5 s).
    #[arg(long, default_value_t = 5000)]
    pub webhook_timeout_ms: u64,

    /// Retries after the first attempt before a message is given up (BAZAAR.md: 8).
    #[arg(long, default_value_t = 8)]
    pub max_retries: u32,

    /// Multiplies the retry schedule (1 min, 2, 4 … 128 min ≈ 4 h 15 min); 0.001 for tests.
    #[arg(long, default_value_t = 1.0)]
    pub retry_scale: f64,

    /// Open API calls per second per app and shop (token bucket; burst = one second's worth).
    #[arg(long, default_value_t = 50.0)]
    pub api_rate: f64,

    /// Webhook endpoint "down" this many seconds, starting `--outage-start-secs` after start.
    #[arg(long, default_value_t = 0)]
    pub outage_secs: u64,

    /// When the `--outage-secs` window starts, in seconds after start.
    #[arg(long, default_value_t = 0)]
    pub outage_start_secs: u64,

    /// Open API down (503) for this many seconds from start.
    #[arg(long, default_value_t = 0)]
    pub api_down_secs: u64,

    #[command(flatten)]
    pub chaos: ChaosConfig,

    #[command(flatten)]
    pub traffic: TrafficConfig,

    #[command(flatten)]
    pub courier_chaos: CourierChaos,

    #[command(flatten)]
    pub courier_schedule: CourierSchedule,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
            state_file: None,
            seed: None,
            app_key: "cairn-erp".into(),
            app_secret: None,
            shops: 0,
            trickle_per_minute: 0.0,
            pay_timeout_secs: 0.0,
            webhook_concurrency: 128,
            webhook_timeout_ms: 5000,
            max_retries: 8,
            retry_scale: 1.0,
            api_rate: 50.0,
            outage_secs: 0,
            outage_start_secs: 0,
            api_down_secs: 0,
            chaos: ChaosConfig::default(),
            traffic: TrafficConfig::default(),
            courier_chaos: CourierChaos::default(),
            courier_schedule: CourierSchedule::default(),
        }
    }
}

impl SimConfig {
    /// For tests: any free port on 127.0.0.1, a fixed seed, the retry schedule compressed a
    /// thousandfold (the 8 retries take ≈ 15 s instead of ≈ 4 h) and a generous API rate.
    pub fn ephemeral() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: Some(11),
            retry_scale: 0.001,
            api_rate: 1000.0,
            ..SimConfig::default()
        }
    }

    /// The delay before retry number `retry` (1-based): 1 min × 2^(retry−1), scaled.
    pub fn retry_delay(&self, retry: u32) -> Duration {
        let secs = 60.0 * 2f64.powi(retry.saturating_sub(1).min(30) as i32) * self.retry_scale;
        Duration::from_secs_f64(secs.max(0.0))
    }
}

/// Misbehaviour on demand. Each rate is a probability in [0, 1]; all default to off. Changeable
/// while running (`Sim::set_chaos`, `PUT /admin/chaos`).
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default)]
pub struct ChaosConfig {
    /// Deliver a message twice (same message id, independent retries).
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_rate: f64,
    /// Hold a message back `--reorder-ms` so later ones overtake it.
    #[arg(long, default_value_t = 0.0)]
    pub reorder_rate: f64,
    /// How long a reordered message is held back (a random 50–100% of this).
    #[arg(long, default_value_t = 300)]
    pub reorder_ms: u64,
    /// Never push a message (only a reconciliation pull can find the change).
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Extra latency before every message's first attempt.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// Open API answers `--api-slow-ms` late.
    #[arg(long, default_value_t = 0.0)]
    pub api_slow_rate: f64,
    /// How late a slow Open API answer is.
    #[arg(long, default_value_t = 3000)]
    pub api_slow_ms: u64,
    /// Open API answers 500 without doing anything.
    #[arg(long, default_value_t = 0.0)]
    pub api_fail_rate: f64,
    /// Open API does the work, then answers 500 anyway (the caller must retry idempotently).
    #[arg(long, default_value_t = 0.0)]
    pub api_fail_after_rate: f64,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        ChaosConfig {
            duplicate_rate: 0.0,
            reorder_rate: 0.0,
            reorder_ms: 300,
            drop_rate: 0.0,
            delay_ms: 0,
            api_slow_rate: 0.0,
            api_slow_ms: 3000,
            api_fail_rate: 0.0,
            api_fail_after_rate: 0.0,
        }
    }
}

impl ChaosConfig {
    /// Rejects rates outside [0, 1].
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("duplicate_rate", self.duplicate_rate),
            ("reorder_rate", self.reorder_rate),
            ("drop_rate", self.drop_rate),
            ("api_slow_rate", self.api_slow_rate),
            ("api_fail_rate", self.api_fail_rate),
            ("api_fail_after_rate", self.api_fail_after_rate),
        ];
        match rates.iter().find(|(_, r)| !(0.0..=1.0).contains(r)) {
            Some((name, r)) => Err(format!("{name} must be between 0 and 1, not {r}")),
            None => Ok(()),
        }
    }
}

/// What the seller's catalogue and the generated trades look like beyond the basics. Each share
/// is a probability in [0, 1]; all default to 0, so plain traffic (tests, the Double-11 burst)
/// has none of it. Changeable while running (`Sim::set_traffic`, `PUT /admin/traffic`).
///
/// `no_merchant_code_share` applies to every variant listed without saying (demo shops, items
/// created for a trade or a burst, `NewItem` without `merchant_code`); the others shape the
/// lives of the trickle's trades (and of [`crate::Sim::play`]).
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default)]
pub struct TrafficConfig {
    /// Share of listed variants the seller set no merchant code on (their lines carry
    /// `outer_sku_id: null`; Cairn needs a product mapping for them).
    #[arg(long, default_value_t = 0.0)]
    pub no_merchant_code_share: f64,
    /// Share of trades the buyer leaves a memo on when ordering.
    #[arg(long, default_value_t = 0.0)]
    pub buyer_memo_share: f64,
    /// Share of paid trades the seller puts a memo and a flag (1–5) on, 1–5 s after payment
    /// (`trade.TradeChanged`).
    #[arg(long, default_value_t = 0.0)]
    pub seller_memo_share: f64,
    /// Share of paid trades whose buyer asks for a refund (of one line when there are several,
    /// half the time), 5–30 s after payment (`refund.RefundCreated`).
    #[arg(long, default_value_t = 0.0)]
    pub refund_request_share: f64,
    /// Share of those refund requests later withdrawn (`CLOSED`, `refund.RefundClosed`), 3–15 s
    /// after the request; the others succeed (`SUCCESS`, `refund.RefundSuccess`).
    #[arg(long, default_value_t = 0.0)]
    pub refund_close_share: f64,
    /// Share of paid trades whose receiver changes (a new address, same name) 2–8 s after
    /// payment (`trade.TradeChanged`).
    #[arg(long, default_value_t = 0.0)]
    pub address_change_share: f64,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            no_merchant_code_share: 0.0,
            buyer_memo_share: 0.0,
            seller_memo_share: 0.0,
            refund_request_share: 0.0,
            refund_close_share: 0.0,
            address_change_share: 0.0,
        }
    }
}

impl TrafficConfig {
    /// Roughly what a seller's back office sees: a merchant code missing on ~15% of variants,
    /// buyer memos on ~10% of trades, seller memos on ~5%, refund requests on ~3% (a third of
    /// them withdrawn), address changes after payment on ~2%. The demo runs with this.
    pub fn realistic() -> Self {
        TrafficConfig {
            no_merchant_code_share: 0.15,
            buyer_memo_share: 0.10,
            seller_memo_share: 0.05,
            refund_request_share: 0.03,
            refund_close_share: 1.0 / 3.0,
            address_change_share: 0.02,
        }
    }

    /// Rejects shares outside [0, 1].
    pub fn validate(&self) -> Result<(), String> {
        let shares = [
            ("no_merchant_code_share", self.no_merchant_code_share),
            ("buyer_memo_share", self.buyer_memo_share),
            ("seller_memo_share", self.seller_memo_share),
            ("refund_request_share", self.refund_request_share),
            ("refund_close_share", self.refund_close_share),
            ("address_change_share", self.address_change_share),
        ];
        match shares.iter().find(|(_, r)| !(0.0..=1.0).contains(r)) {
            Some((name, r)) => Err(format!("{name} must be between 0 and 1, not {r}")),
            None => Ok(()),
        }
    }
}

/// A carrier that does not deliver to a province (`courier.address-unreachable`); written
/// `ZTO:西藏自治区` on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreachable {
    pub cp_code: Carrier,
    /// Full (`西藏自治区`) or short (`西藏`) name.
    pub province: String,
}

impl Unreachable {
    /// Whether this pair rules out `carrier` for `province` (either name form).
    pub fn matches(&self, carrier: Carrier, province: &routing::Province) -> bool {
        self.cp_code == carrier && routing::province(&self.province) == Some(province)
    }

    /// Parses `CP_CODE:province`.
    pub fn parse_arg(s: &str) -> Result<Unreachable, String> {
        let (cp, province) = s.split_once(':').ok_or_else(|| format!("`{s}` is not CP_CODE:province"))?;
        let cp_code = Carrier::parse(cp.trim()).ok_or_else(|| format!("`{cp}` is not a cp_code"))?;
        let u = Unreachable { cp_code, province: province.trim().to_owned() };
        u.validate()?;
        Ok(u)
    }

    fn validate(&self) -> Result<(), String> {
        match routing::province(&self.province) {
            Some(_) => Ok(()),
            None => Err(format!("`{}` is not a province of the mainland", self.province)),
        }
    }
}

/// Courier's misbehaviour on demand. Each rate is a probability in [0, 1]; all default to off.
/// Changeable while running (`Sim::set_courier_chaos`, `PUT /admin/courier/chaos`); applies to
/// calls made and pushes created from then on.
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default)]
pub struct CourierChaos {
    /// Latency added to every waybill draw call.
    #[arg(long = "courier-draw-latency-ms", default_value_t = 0)]
    pub draw_latency_ms: u64,
    /// Draw calls answered `--courier-draw-slow-ms` late (on top of the latency).
    #[arg(long = "courier-draw-slow-rate", default_value_t = 0.0)]
    pub draw_slow_rate: f64,
    #[arg(long = "courier-draw-slow-ms", default_value_t = 3000)]
    pub draw_slow_ms: u64,
    /// Draw calls answered 500 without drawing anything.
    #[arg(long = "courier-draw-fail-rate", default_value_t = 0.0)]
    pub draw_fail_rate: f64,
    /// Draw calls that draw (numbers spent), then answer 500 anyway.
    #[arg(long = "courier-draw-fail-after-rate", default_value_t = 0.0)]
    pub draw_fail_after_rate: f64,
    /// Draw calls that draw, then give no answer for `--courier-draw-timeout-ms` (then 504): the
    /// caller times out not knowing it got waybills, and must draw again by the same object_id.
    #[arg(long = "courier-draw-timeout-after-rate", default_value_t = 0.0)]
    pub draw_timeout_after_rate: f64,
    #[arg(long = "courier-draw-timeout-ms", default_value_t = 30_000)]
    pub draw_timeout_ms: u64,
    /// Push a tracking event twice (same message id, independent retries).
    #[arg(long = "courier-push-duplicate-rate", default_value_t = 0.0)]
    pub push_duplicate_rate: f64,
    /// Hold a tracking event back `--courier-push-reorder-ms` so later ones overtake it.
    #[arg(long = "courier-push-reorder-rate", default_value_t = 0.0)]
    pub push_reorder_rate: f64,
    /// How long a reordered event is held back (a random 50–100% of this).
    #[arg(long = "courier-push-reorder-ms", default_value_t = 300)]
    pub push_reorder_ms: u64,
    /// Never push a tracking event (`GET /courier/v1/waybills/{code}` still shows it).
    #[arg(long = "courier-push-drop-rate", default_value_t = 0.0)]
    pub push_drop_rate: f64,
    /// Extra latency before every tracking event's first attempt.
    #[arg(long = "courier-push-delay-ms", default_value_t = 0)]
    pub push_delay_ms: u64,
    /// (carrier, province) pairs the network does not serve, e.g. `ZTO:西藏自治区`.
    #[arg(long = "courier-unreachable", value_parser = Unreachable::parse_arg)]
    pub unreachable: Vec<Unreachable>,
}

impl Default for CourierChaos {
    fn default() -> Self {
        CourierChaos {
            draw_latency_ms: 0,
            draw_slow_rate: 0.0,
            draw_slow_ms: 3000,
            draw_fail_rate: 0.0,
            draw_fail_after_rate: 0.0,
            draw_timeout_after_rate: 0.0,
            draw_timeout_ms: 30_000,
            push_duplicate_rate: 0.0,
            push_reorder_rate: 0.0,
            push_reorder_ms: 300,
            push_drop_rate: 0.0,
            push_delay_ms: 0,
            unreachable: Vec::new(),
        }
    }
}

impl CourierChaos {
    /// Rejects rates outside [0, 1] and unknown provinces.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("draw_slow_rate", self.draw_slow_rate),
            ("draw_fail_rate", self.draw_fail_rate),
            ("draw_fail_after_rate", self.draw_fail_after_rate),
            ("draw_timeout_after_rate", self.draw_timeout_after_rate),
            ("push_duplicate_rate", self.push_duplicate_rate),
            ("push_reorder_rate", self.push_reorder_rate),
            ("push_drop_rate", self.push_drop_rate),
        ];
        if let Some((name, r)) = rates.iter().find(|(_, r)| !(0.0..=1.0).contains(r)) {
            return Err(format!("{name} must be between 0 and 1, not {r}"));
        }
        self.unreachable.iter().try_for_each(Unreachable::validate)
    }
}

/// When Courier's parcels move. After a Bazaar ship write-back names a waybill, the carrier
/// collects it `collect_delay_ms` later; then each parcel moves COLLECTED → IN_TRANSIT →
/// DELIVERING → DELIVERED, each move the given time after the previous one, except a share
/// (`exception_share`) that goes DELIVERING → EXCEPTION → RETURNING → RETURNED. Every delay is
/// multiplied by `time_scale` (0.001 makes a day's journey last under two minutes).
/// Changeable while running (`Sim::set_courier_schedule`, `PUT /admin/courier/schedule`);
/// applies to moves scheduled from then on.
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default)]
pub struct CourierSchedule {
    /// From a ship write-back naming the waybill to its collection.
    #[arg(long = "courier-collect-delay-ms", default_value_t = 1_800_000)]
    pub collect_delay_ms: u64,
    /// COLLECTED → IN_TRANSIT.
    #[arg(long = "courier-in-transit-ms", default_value_t = 14_400_000)]
    pub in_transit_ms: u64,
    /// IN_TRANSIT → DELIVERING (and EXCEPTION → DELIVERING for a second attempt).
    #[arg(long = "courier-delivering-ms", default_value_t = 64_800_000)]
    pub delivering_ms: u64,
    /// DELIVERING → DELIVERED.
    #[arg(long = "courier-delivered-ms", default_value_t = 10_800_000)]
    pub delivered_ms: u64,
    /// DELIVERING → EXCEPTION.
    #[arg(long = "courier-exception-ms", default_value_t = 10_800_000)]
    pub exception_ms: u64,
    /// EXCEPTION → RETURNING.
    #[arg(long = "courier-returning-ms", default_value_t = 7_200_000)]
    pub returning_ms: u64,
    /// RETURNING → RETURNED.
    #[arg(long = "courier-returned-ms", default_value_t = 172_800_000)]
    pub returned_ms: u64,
    /// Share of parcels that fail delivery and go back to the sender (decided per parcel code
    /// and seed when it is collected).
    #[arg(long = "courier-exception-share", default_value_t = 0.02)]
    pub exception_share: f64,
    /// Multiplies every delay above.
    #[arg(long = "courier-time-scale", default_value_t = 1.0)]
    pub time_scale: f64,
}

impl Default for CourierSchedule {
    fn default() -> Self {
        CourierSchedule {
            collect_delay_ms: 1_800_000,
            in_transit_ms: 14_400_000,
            delivering_ms: 64_800_000,
            delivered_ms: 10_800_000,
            exception_ms: 10_800_000,
            returning_ms: 7_200_000,
            returned_ms: 172_800_000,
            exception_share: 0.02,
            time_scale: 1.0,
        }
    }
}

impl CourierSchedule {
    /// Every delay (collection included) `ms`, no returns: for tests.
    pub fn every(ms: u64) -> Self {
        CourierSchedule {
            collect_delay_ms: ms,
            in_transit_ms: ms,
            delivering_ms: ms,
            delivered_ms: ms,
            exception_ms: ms,
            returning_ms: ms,
            returned_ms: ms,
            exception_share: 0.0,
            time_scale: 1.0,
        }
    }

    fn scaled(&self, ms: u64) -> i64 {
        (ms as f64 * self.time_scale).round() as i64
    }

    /// Milliseconds a parcel waits before moving to `status`.
    pub fn delay_ms(&self, status: TrackingStatus) -> i64 {
        self.scaled(match status {
            TrackingStatus::Collected => self.collect_delay_ms,
            TrackingStatus::InTransit => self.in_transit_ms,
            TrackingStatus::Delivering => self.delivering_ms,
            TrackingStatus::Delivered => self.delivered_ms,
            TrackingStatus::Exception => self.exception_ms,
            TrackingStatus::Returning => self.returning_ms,
            TrackingStatus::Returned => self.returned_ms,
        })
    }

    /// Rejects a share outside [0, 1] and a negative or non-finite scale.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.exception_share) {
            return Err(format!("exception_share must be between 0 and 1, not {}", self.exception_share));
        }
        if !self.time_scale.is_finite() || self.time_scale < 0.0 {
            return Err(format!("time_scale must be a non-negative number, not {}", self.time_scale));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimConfig,
    }

    #[test]
    fn default_matches_the_flags() {
        let parsed = Cli::parse_from(["sim"]).sim;
        let default = SimConfig::default();
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
        let parsed =
            Cli::parse_from(["sim", "--drop-rate", "0.5", "--retry-scale", "0.001", "--listen", "127.0.0.1:0"]).sim;
        assert_eq!(parsed.chaos.drop_rate, 0.5);
        assert_eq!(parsed.retry_delay(1), Duration::from_millis(60));
        let parsed = Cli::parse_from(["sim", "--no-merchant-code-share", "0.15", "--refund-close-share", "0.5"]).sim;
        assert_eq!((parsed.traffic.no_merchant_code_share, parsed.traffic.refund_close_share), (0.15, 0.5));
        assert!(TrafficConfig::realistic().validate().is_ok());
        assert!(TrafficConfig { buyer_memo_share: 1.5, ..TrafficConfig::default() }.validate().is_err());
        let parsed = Cli::parse_from([
            "sim",
            "--courier-unreachable",
            "ZTO:西藏自治区",
            "--courier-unreachable",
            "SF:新疆",
            "--courier-time-scale",
            "0.001",
            "--courier-draw-timeout-after-rate",
            "0.5",
        ])
        .sim;
        assert_eq!(parsed.courier_chaos.unreachable.len(), 2);
        assert_eq!(parsed.courier_chaos.unreachable[1].cp_code, Carrier::Sf);
        assert_eq!(parsed.courier_chaos.draw_timeout_after_rate, 0.5);
        assert_eq!(parsed.courier_schedule.delay_ms(TrackingStatus::Returned), 172_800);
        assert!(Cli::try_parse_from(["sim", "--courier-unreachable", "ZTO:火星"]).is_err());
        assert!(CourierChaos { push_drop_rate: 2.0, ..CourierChaos::default() }.validate().is_err());
        assert!(CourierSchedule { time_scale: -1.0, ..CourierSchedule::default() }.validate().is_err());
    }

    #[test]
    fn the_retry_schedule_spans_about_four_hours() {
        let c = SimConfig::default();
        let total: Duration = (1..=c.max_retries).map(|r| c.retry_delay(r)).sum();
        assert_eq!(total, Duration::from_secs(255 * 60));
    }
}
