//! The simulator's settings: flags of `cairn sim` (a `clap::Args` to flatten into the binary's
//! command), the runtime-adjustable chaos knobs and the traffic knobs (what the seller's
//! catalogue and the generated trades look like).

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
    }

    #[test]
    fn the_retry_schedule_spans_about_four_hours() {
        let c = SimConfig::default();
        let total: Duration = (1..=c.max_retries).map(|r| c.retry_delay(r)).sum();
        assert_eq!(total, Duration::from_secs(255 * 60));
    }
}
