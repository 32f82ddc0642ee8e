//! Configuration: command-line flags and `CAIRN_`-prefixed environment variables. Secrets are
//! wrapped so they never print; a missing or bad setting names itself.

use anyhow::{Context, bail};
use secrecy::SecretString;
use std::path::{Path, PathBuf};

/// The services one process can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Service {
    Identity,
    Channels,
    Orders,
    Inventory,
    Invoicing,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 5] =
        [Service::Identity, Service::Channels, Service::Orders, Service::Inventory, Service::Invoicing];

    /// The service that owns an API path, if any.
    pub fn owning(path: &str) -> Option<Service> {
        let p = path.strip_prefix("/v1/")?;
        let first = p.split('/').next().unwrap_or("");
        Some(match first {
            "signup" | "auth" => Service::Identity,
            "channels" | "webhooks" => Service::Channels,
            "orders" => Service::Orders,
            "warehouses" | "skus" | "stock" | "reservations" => Service::Inventory,
            "invoices" | "invoicing" => Service::Invoicing,
            _ => return None,
        })
    }
}

/// Everything a running Cairn needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub public_url: Option<String>,
    pub database_url: String,
    pub db_max_connections: u32,
    pub transport: bus::Transport,
    pub jwt_secret: SecretString,
    pub jwt_ttl_seconds: i64,
    pub services: Vec<Service>,
    pub inventory_partitions: usize,
    /// Apply migrations at start (the embedded mode does; the distributed mode runs `cairn migrate`).
    pub migrate: bool,
    /// How long SIGTERM waits for in-flight requests.
    pub drain_seconds: u64,
    /// Reconciliation pulls (channels).
    pub reconcile: channels::reconcile::Settings,
    /// How often the write-back worker looks for due write-backs when idle.
    pub writeback_tick: std::time::Duration,
}

/// Reconciliation and write-back settings from `CAIRN_RECONCILE_INTERVAL_SECONDS` (default 60),
/// `CAIRN_RECONCILE_OVERLAP_SECONDS` (30) and `CAIRN_WRITEBACK_TICK_MS` (500).
fn channel_settings() -> anyhow::Result<(channels::reconcile::Settings, std::time::Duration)> {
    let r = channels::reconcile::Settings {
        interval: std::time::Duration::from_secs(parsed("CAIRN_RECONCILE_INTERVAL_SECONDS", 60u64)?.max(1)),
        overlap: chrono::Duration::seconds(parsed("CAIRN_RECONCILE_OVERLAP_SECONDS", 30i64)?.max(0)),
        ..Default::default()
    };
    Ok((r, std::time::Duration::from_millis(parsed("CAIRN_WRITEBACK_TICK_MS", 500u64)?.max(10))))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &str) -> anyhow::Result<String> {
    env(name).with_context(|| format!("{name} is not set"))
}

fn parsed<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match env(name) {
        Some(v) => v.parse().map_err(|e| anyhow::anyhow!("{name}={v:?} is invalid: {e}")),
        None => Ok(default),
    }
}

/// The SQLite URL of a data directory.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("cairn.db").display())
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

impl Config {
    /// `cairn up`: everything in one process on a SQLite file in `data_dir`.
    pub fn embedded(listen: &str, data_dir: &Path) -> anyhow::Result<Config> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating data dir {}", data_dir.display()))?;
        Ok(Config {
            listen: listen.to_owned(),
            public_url: env("CAIRN_PUBLIC_URL"),
            database_url: sqlite_url(data_dir),
            db_max_connections: 8,
            transport: bus::Transport::Embedded,
            jwt_secret: match env("CAIRN_JWT_SECRET") {
                Some(s) => SecretString::from(s),
                None => data_dir_secret(data_dir)?,
            },
            jwt_ttl_seconds: parsed("CAIRN_JWT_TTL_SECONDS", 86_400)?,
            services: Service::ALL.to_vec(),
            // One: SQLite has one writer, so more partitions only split a step's stock
            // commands into more transactions (Double-11: 270 inventory commits became 83).
            inventory_partitions: parsed("CAIRN_INVENTORY_PARTITIONS", 1)?,
            migrate: true,
            drain_seconds: 20,
            reconcile: channel_settings()?.0,
            writeback_tick: channel_settings()?.1,
        })
    }

    /// `cairn serve`: the named services, PostgreSQL and RabbitMQ from the environment.
    pub fn distributed(services: Vec<Service>) -> anyhow::Result<Config> {
        let database_url = required("CAIRN_DATABASE_URL")?;
        if !database_url.starts_with("postgres") {
            bail!("CAIRN_DATABASE_URL must be a postgres:// URL in the distributed mode (use `cairn up` for SQLite)");
        }
        let secret = required("CAIRN_JWT_SECRET")?;
        if secret.len() < 32 {
            bail!("CAIRN_JWT_SECRET must be at least 32 characters");
        }
        Ok(Config {
            listen: env("CAIRN_LISTEN").unwrap_or_else(|| "0.0.0.0:8080".into()),
            public_url: env("CAIRN_PUBLIC_URL"),
            database_url,
            db_max_connections: parsed("CAIRN_DB_MAX_CONNECTIONS", 20)?,
            transport: bus::Transport::Rabbit {
                url: required("CAIRN_AMQP_URL")?,
                prefix: env("CAIRN_AMQP_PREFIX").unwrap_or_default(),
            },
            jwt_secret: SecretString::from(secret),
            jwt_ttl_seconds: parsed("CAIRN_JWT_TTL_SECONDS", 86_400)?,
            services: if services.is_empty() { Service::ALL.to_vec() } else { services },
            inventory_partitions: parsed("CAIRN_INVENTORY_PARTITIONS", 8)?,
            migrate: parsed("CAIRN_MIGRATE_ON_START", false)?,
            drain_seconds: parsed("CAIRN_DRAIN_SECONDS", 20)?,
            reconcile: channel_settings()?.0,
            writeback_tick: channel_settings()?.1,
        })
    }

    /// Does this process run `s`?
    pub fn runs(&self, s: Service) -> bool {
        self.services.contains(&s)
    }
}

/// The default data directory of `cairn up`.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("./.cairn")
}
