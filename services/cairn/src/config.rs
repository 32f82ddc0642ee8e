//! Configuration, in three layers: defaults, then an optional TOML file (`--config <path>` or
//! `CAIRN_CONFIG`), then `CAIRN_`-prefixed environment variables (`listen` in the file is
//! `CAIRN_LISTEN` in the environment). Command-line flags of `cairn up` go on top. A key the
//! file does not know, or a value that does not parse, is an error that names the key and
//! where it came from. Secrets are wrapped so they never print.
//!
//! The defaults differ by mode: `cairn up` (embedded: SQLite in the data directory, the
//! embedded bus, listening on loopback) and `cairn serve` (distributed: PostgreSQL and
//! RabbitMQ, which must be configured).

use anyhow::{Context, bail};
use secrecy::SecretString;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The services one process can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Service {
    Identity,
    Channels,
    Orders,
    Inventory,
    Invoicing,
    /// Carrier accounts, shipments, waybills, labels and tracking.
    Shipping,
    /// The sellers' web app at `/` and the live event stream.
    Dashboard,
    /// Event subscriptions: the tenant's events delivered to subscribed URLs.
    Subscriptions,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 8] = [
        Service::Identity,
        Service::Channels,
        Service::Orders,
        Service::Inventory,
        Service::Invoicing,
        Service::Shipping,
        Service::Dashboard,
        Service::Subscriptions,
    ];

    /// What the service says about itself (prefixes, consumers, tables).
    pub fn descriptor(self) -> &'static host::Descriptor {
        match self {
            Service::Identity => &identity::SERVICE,
            Service::Channels => &channels::SERVICE,
            Service::Orders => &orders::SERVICE,
            Service::Inventory => &inventory::SERVICE,
            Service::Invoicing => &invoicing::SERVICE,
            Service::Shipping => &shipping::SERVICE,
            Service::Dashboard => &dashboard::SERVICE,
            Service::Subscriptions => &subscriptions::SERVICE,
        }
    }

    /// The service that owns an API path, if any.
    pub fn owning(path: &str) -> Option<Service> {
        Service::ALL
            .into_iter()
            .filter_map(|s| s.descriptor().match_len(path).map(|n| (n, s)))
            .max_by_key(|m| m.0)
            .map(|m| m.1)
    }
}

/// Declares [`Settings`]: every field optional (unset = the mode's default), read from the
/// file by its name and from the environment as `CAIRN_<NAME>`.
macro_rules! settings {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty ),* $(,)?) => {
        /// Settings as given (file, then environment); `None` means "the mode's default".
        #[derive(Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Settings {
            $( $(#[$doc])* pub $name: Option<$ty>, )*
        }

        impl Settings {
            /// Overrides each key that `lookup("CAIRN_<KEY>")` has a non-blank value for.
            fn overlay(&mut self, lookup: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<()> {
                $(
                    let var = concat!("CAIRN_", stringify!($name)).to_uppercase();
                    if let Some(v) = lookup(&var).filter(|v| !v.trim().is_empty()) {
                        self.$name = Some(
                            v.trim().parse::<$ty>().map_err(|e| anyhow::anyhow!("{var}={v:?} is invalid: {e}"))?,
                        );
                    }
                )*
                Ok(())
            }
        }
    };
}

settings! {
    /// Address to listen on (`cairn up`: 127.0.0.1:8080; `cairn serve`: 0.0.0.0:8080).
    listen: String,
    /// Where marketplaces and buyers reach this deployment (default: the listening address).
    public_url: String,
    /// `cairn up`'s data directory (SQLite file, JWT secret, simulator state): `./.cairn`.
    data_dir: PathBuf,
    /// `cairn serve`: the PostgreSQL URL the services connect with (required). Its role should
    /// own nothing and have neither `BYPASSRLS` nor superuser, so that row-level security
    /// holds for it; `cairn migrate` grants it what it needs.
    database_url: String,
    /// `cairn migrate` (and `migrate_on_start`): the PostgreSQL URL of the schema's owner,
    /// which applies migrations and grants `database_url`'s role its privileges (default:
    /// `database_url`, when one role does both).
    migration_database_url: String,
    /// Database pool size (embedded 8, distributed 20).
    db_max_connections: u32,
    /// `cairn serve`: the RabbitMQ URL (required).
    amqp_url: String,
    /// Prefix of exchange and queue names (several deployments on one broker).
    amqp_prefix: String,
    /// Queues each consumer's messages are split into by tenant, so that one tenant's flood
    /// waits in its own queue (8). The same in every process; change it only with the queues
    /// drained.
    amqp_shards: u16,
    /// Signs access tokens; at least 32 characters. `cairn up` keeps one in the data directory.
    jwt_secret: String,
    /// Access token lifetime (86,400 s).
    jwt_ttl_seconds: i64,
    /// Requests a minute each user may make per tenant (6,000; a burst of that many, then
    /// earned back evenly). Per process.
    rate_limit_user_per_minute: u32,
    /// Requests a minute each app may make per tenant unless it registered its own (1,200).
    rate_limit_app_per_minute: u32,
    /// Event subscriptions may deliver to `http://` and private or loopback addresses
    /// (`cairn up`: true; `cairn serve`: false).
    subscriptions_allow_private_targets: bool,
    /// Inventory engine partitions (embedded 1: SQLite has one writer; distributed 8).
    inventory_partitions: usize,
    /// `cairn serve`: how long an inventory API command waits for the answer of the instance
    /// that owns the tenant's shard before it answers 503 (5,000 ms).
    inventory_command_timeout_ms: u64,
    /// `cairn serve`: apply migrations at start (default false: run `cairn migrate`).
    migrate_on_start: bool,
    /// How long SIGTERM waits for in-flight requests (20 s).
    drain_seconds: u64,
    /// How often each shop is pulled for reconciliation (60 s).
    reconcile_interval_seconds: u64,
    /// How far each pull reaches back before its checkpoint (30 s).
    reconcile_overlap_seconds: i64,
    /// How often the write-back worker looks for due write-backs when idle (500 ms).
    writeback_tick_ms: u64,
    /// SQLite only: write every statement of the writer to this file, replayable by `sqlite3`.
    sql_trace: PathBuf,
}

impl Settings {
    /// Defaults ← the file at `file` (or at `CAIRN_CONFIG` when `file` is `None`) ← the
    /// process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let env = |k: &str| std::env::var(k).ok();
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env("CAIRN_CONFIG").filter(|p| !p.trim().is_empty()).map(PathBuf::from));
        Self::from_sources(file.as_deref(), &env)
    }

    /// [`Settings::load`] with the environment given as a lookup (tests).
    pub fn from_sources(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
        let mut s = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<Settings>(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => Settings::default(),
        };
        s.overlay(env)?;
        Ok(s)
    }

    fn reconcile(&self) -> channels::Settings {
        channels::Settings {
            reconcile: channels::reconcile::Settings {
                interval: std::time::Duration::from_secs(self.reconcile_interval_seconds.unwrap_or(60).max(1)),
                overlap: chrono::Duration::seconds(self.reconcile_overlap_seconds.unwrap_or(30).max(0)),
                ..Default::default()
            },
            writeback_tick: std::time::Duration::from_millis(self.writeback_tick_ms.unwrap_or(500).max(10)),
        }
    }

    fn inventory_command_timeout(&self) -> std::time::Duration {
        self.inventory_command_timeout_ms
            .map_or(inventory::remote::DEFAULT_TIMEOUT, |ms| std::time::Duration::from_millis(ms.max(1)))
    }

    fn public_url(&self) -> Option<String> {
        self.public_url.clone().filter(|u| !u.trim().is_empty())
    }
}

/// Everything a running Cairn needs.
#[derive(Clone)]
pub struct Config {
    pub listen: String,
    pub public_url: Option<String>,
    pub database_url: String,
    /// Where migrations run (the schema's owner), if not at `database_url`.
    pub migration_database_url: Option<String>,
    pub db_max_connections: u32,
    /// SQLite only: see [`Settings::sql_trace`].
    pub sql_trace: Option<PathBuf>,
    pub transport: bus::Transport,
    pub jwt_secret: SecretString,
    pub jwt_ttl_seconds: i64,
    /// Requests a minute per (user, tenant) and per (app, tenant).
    pub rate_limits: (u32, u32),
    pub services: Vec<Service>,
    /// Apply migrations at start (the embedded mode does; the distributed mode runs `cairn migrate`).
    pub migrate: bool,
    /// How long SIGTERM waits for in-flight requests.
    pub drain_seconds: u64,
    pub inventory: inventory::Settings,
    pub channels: channels::Settings,
    pub subscriptions: subscriptions::Settings,
    /// The clock every service reads "now" from (tests substitute a [`kernel::ManualClock`]).
    pub clock: kernel::SharedClock,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("services", &self.services)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// The SQLite URL of a data directory.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("cairn.db").display())
}

/// The default data directory of `cairn up`.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("./.cairn")
}

/// Reads the data directory's JWT secret, creating it on first start.
fn data_dir_secret(data_dir: &Path) -> anyhow::Result<SecretString> {
    let path = data_dir.join("jwt.secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        return Ok(SecretString::from(s.trim().to_owned()));
    }
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    std::fs::write(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(SecretString::from(secret))
}

impl Settings {
    fn rate_limits(&self) -> (u32, u32) {
        (self.rate_limit_user_per_minute.unwrap_or(6_000), self.rate_limit_app_per_minute.unwrap_or(1_200))
    }
}

impl Config {
    /// `cairn up`: every service in one process on a SQLite file in `data_dir`.
    pub fn embedded(s: &Settings, listen: &str, data_dir: &Path) -> anyhow::Result<Config> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating data dir {}", data_dir.display()))?;
        Ok(Config {
            listen: listen.to_owned(),
            public_url: s.public_url(),
            database_url: sqlite_url(data_dir),
            migration_database_url: None,
            db_max_connections: s.db_max_connections.unwrap_or(8),
            sql_trace: s.sql_trace.clone(),
            transport: bus::Transport::Embedded,
            jwt_secret: match s.jwt_secret.clone() {
                Some(secret) => SecretString::from(secret),
                None => data_dir_secret(data_dir)?,
            },
            jwt_ttl_seconds: s.jwt_ttl_seconds.unwrap_or(86_400),
            rate_limits: s.rate_limits(),
            services: Service::ALL.to_vec(),
            migrate: true,
            drain_seconds: s.drain_seconds.unwrap_or(20),
            // One: SQLite has one writer, so more partitions only split a step's stock
            // commands into more transactions (Double-11: 270 inventory commits became 83).
            inventory: inventory::Settings {
                partitions: s.inventory_partitions.unwrap_or(1),
                command_timeout: s.inventory_command_timeout(),
            },
            channels: s.reconcile(),
            subscriptions: subscriptions::Settings {
                allow_private_targets: s.subscriptions_allow_private_targets.unwrap_or(true),
            },
            clock: kernel::SystemClock::shared(),
        })
    }

    /// `cairn up` with the settings' own `listen` and `data_dir` (or their defaults).
    pub fn embedded_from(s: &Settings) -> anyhow::Result<Config> {
        let listen = s.listen.clone().unwrap_or_else(|| "127.0.0.1:8080".into());
        Config::embedded(s, &listen, &s.data_dir.clone().unwrap_or_else(default_data_dir))
    }

    /// `cairn serve`: the named services (all when none) on PostgreSQL and RabbitMQ.
    pub fn distributed(s: &Settings, services: Vec<Service>) -> anyhow::Result<Config> {
        let Some(database_url) = s.database_url.clone() else { bail!("CAIRN_DATABASE_URL (database_url) is not set") };
        if !database_url.starts_with("postgres") {
            bail!(
                "CAIRN_DATABASE_URL (database_url) must be a postgres:// URL in the distributed mode (use `cairn up` for SQLite)"
            );
        }
        let Some(secret) = s.jwt_secret.clone() else { bail!("CAIRN_JWT_SECRET (jwt_secret) is not set") };
        if secret.len() < 32 {
            bail!("CAIRN_JWT_SECRET (jwt_secret) must be at least 32 characters");
        }
        let Some(amqp_url) = s.amqp_url.clone() else { bail!("CAIRN_AMQP_URL (amqp_url) is not set") };
        Ok(Config {
            listen: s.listen.clone().unwrap_or_else(|| "0.0.0.0:8080".into()),
            public_url: s.public_url(),
            database_url,
            migration_database_url: s.migration_database_url.clone().filter(|u| !u.trim().is_empty()),
            db_max_connections: s.db_max_connections.unwrap_or(20),
            sql_trace: None,
            transport: bus::Transport::Rabbit {
                url: amqp_url,
                prefix: s.amqp_prefix.clone().unwrap_or_default(),
                shards: s.amqp_shards.unwrap_or(8).max(1),
            },
            jwt_secret: SecretString::from(secret),
            jwt_ttl_seconds: s.jwt_ttl_seconds.unwrap_or(86_400),
            rate_limits: s.rate_limits(),
            services: if services.is_empty() { Service::ALL.to_vec() } else { services },
            migrate: s.migrate_on_start.unwrap_or(false),
            drain_seconds: s.drain_seconds.unwrap_or(20),
            inventory: inventory::Settings {
                partitions: s.inventory_partitions.unwrap_or(8),
                command_timeout: s.inventory_command_timeout(),
            },
            channels: s.reconcile(),
            subscriptions: subscriptions::Settings {
                allow_private_targets: s.subscriptions_allow_private_targets.unwrap_or(false),
            },
            clock: kernel::SystemClock::shared(),
        })
    }

    /// Does this process run `s`?
    pub fn runs(&self, s: Service) -> bool {
        self.services.contains(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    fn file(text: &str) -> (PathBuf, impl Drop) {
        struct Rm(PathBuf);
        impl Drop for Rm {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let p = std::env::temp_dir().join(format!("cairn-config-{}.toml", uuid::Uuid::new_v4().simple()));
        std::fs::write(&p, text).unwrap();
        (p.clone(), Rm(p))
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let (path, _rm) = file("listen = \"127.0.0.1:9000\"\nreconcile_interval_seconds = 15\ndrain_seconds = 3\n");
        let s = Settings::from_sources(Some(&path), &env(&[("CAIRN_DRAIN_SECONDS", "7"), ("CAIRN_TEST_PG_URL", "x")]))
            .unwrap();
        assert_eq!(s.listen.as_deref(), Some("127.0.0.1:9000"), "from the file");
        assert_eq!(s.drain_seconds, Some(7), "the environment wins over the file");
        assert_eq!(s.reconcile().reconcile.interval, std::time::Duration::from_secs(15));
        assert_eq!(s.reconcile().writeback_tick, std::time::Duration::from_millis(500), "default");
        let none = Settings::from_sources(None, &env(&[])).unwrap();
        assert!(none.listen.is_none() && none.drain_seconds.is_none());
    }

    #[test]
    fn a_bad_field_names_itself() {
        let (path, _rm) = file("listen = \"x\"\nreconcile_intervall_seconds = 15\n");
        let e = Settings::from_sources(Some(&path), &env(&[])).err().unwrap().to_string();
        assert!(e.contains("reconcile_intervall_seconds") && e.contains(&path.display().to_string()), "{e}");
        let (path, _rm2) = file("drain_seconds = \"soon\"\n");
        let e = Settings::from_sources(Some(&path), &env(&[])).err().unwrap().to_string();
        assert!(e.contains("drain_seconds"), "{e}");
        let e = Settings::from_sources(None, &env(&[("CAIRN_WRITEBACK_TICK_MS", "fast")])).err().unwrap().to_string();
        assert!(e.contains("CAIRN_WRITEBACK_TICK_MS") && e.contains("fast"), "{e}");
    }

    #[test]
    fn distributed_needs_its_servers_and_a_long_secret() {
        let s = Settings::from_sources(None, &env(&[("CAIRN_DATABASE_URL", "postgres://db/cairn")])).unwrap();
        let e = Config::distributed(&s, vec![]).unwrap_err().to_string();
        assert!(e.contains("CAIRN_JWT_SECRET"), "{e}");
        let s = Settings::from_sources(
            None,
            &env(&[
                ("CAIRN_DATABASE_URL", "postgres://db/cairn"),
                ("CAIRN_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                ("CAIRN_AMQP_URL", "amqp://mq"),
            ]),
        )
        .unwrap();
        let c = Config::distributed(&s, vec![Service::Orders]).unwrap();
        assert_eq!((c.listen.as_str(), c.inventory.partitions, c.migrate), ("0.0.0.0:8080", 8, false));
        assert!(c.runs(Service::Orders) && !c.runs(Service::Inventory));
        assert_eq!(c.migration_database_url, None, "migrations run as database_url's role unless told");
        let s = Settings::from_sources(
            None,
            &env(&[
                ("CAIRN_DATABASE_URL", "postgres://cairn_app@db/cairn"),
                ("CAIRN_MIGRATION_DATABASE_URL", "postgres://cairn_owner@db/cairn"),
                ("CAIRN_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                ("CAIRN_AMQP_URL", "amqp://mq"),
            ]),
        )
        .unwrap();
        let c = Config::distributed(&s, vec![]).unwrap();
        assert_eq!(
            (c.database_url.as_str(), c.migration_database_url.as_deref()),
            ("postgres://cairn_app@db/cairn", Some("postgres://cairn_owner@db/cairn"))
        );
    }

    #[test]
    fn every_path_has_one_owner() {
        assert_eq!(Service::owning("/v1/webhooks/bazaar/x"), Some(Service::Channels));
        assert_eq!(Service::owning("/v1/webhooks/courier/x"), Some(Service::Shipping));
        assert_eq!(Service::owning("/v1/webhooks/courierx/x"), Some(Service::Channels));
        assert_eq!(Service::owning("/v1/shipments/x/label.pdf"), Some(Service::Shipping));
        assert_eq!(Service::owning("/v1/stock/TEE"), Some(Service::Inventory));
        assert_eq!(Service::owning("/v1/auth/token"), Some(Service::Identity));
        assert_eq!(Service::owning("/healthz"), None);
        for a in Service::ALL {
            for b in Service::ALL.into_iter().filter(|b| *b != a) {
                for p in a.descriptor().prefixes {
                    assert!(!b.descriptor().prefixes.contains(p), "{p} is claimed by {a:?} and {b:?}");
                }
            }
        }
    }
}
