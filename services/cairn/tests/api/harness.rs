//! Starting a real Cairn for a test: a fresh data dir, and on the distributed backend a fresh
//! PostgreSQL database and RabbitMQ namespace (from `testkit`). [`TestApp`] is a running Cairn
//! with `testkit`'s API client ([`testkit::Api`], reached through `Deref`).

use testkit::{Api, Backend, TempDir};

/// Tenant shards of each consumer's RabbitMQ queue in the tests.
pub const TEST_SHARDS: u16 = 2;

/// A configuration for `backend` with a fresh database (and namespace), listening on port 0.
pub async fn config(backend: Backend, dir: &std::path::Path) -> cairn::Config {
    let mut c = cairn::Config::embedded(&cairn::Settings::default(), "127.0.0.1:0", dir).expect("embedded config");
    if backend == Backend::Distributed {
        // Migrations run as the database's owner; the services connect as a role that owns
        // nothing and does not bypass row-level security, as in production.
        let pg = testkit::fresh_pg_database().await;
        c.database_url = pg.app_url;
        c.migration_database_url = Some(pg.owner_url);
        c.db_max_connections = 20;
        let (url, prefix) = testkit::fresh_amqp();
        // Two tenant shards per consumer rather than production's eight: every test declares
        // its own quorum queues on the one test broker, and two are enough to exercise them.
        c.transport = bus::Transport::Rabbit { url, prefix, shards: TEST_SHARDS };
    }
    c.drain_seconds = 5;
    c
}

/// A running Cairn with a client.
pub struct TestApp {
    pub api: Api,
    /// Every service's clock: the wall clock until a test moves it with `advance`.
    pub clock: std::sync::Arc<kernel::ManualClock>,
    pub config: cairn::Config,
    running: Option<cairn::Running>,
    pub dir: TempDir,
}

impl std::ops::Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Starts a Cairn on `backend`.
pub async fn spawn_app(backend: Backend) -> TestApp {
    let dir = TempDir::new("cairn-test");
    let config = config(backend, &dir.0).await;
    start(backend, config, dir).await
}

/// Starts a Cairn from a prepared config (e.g. to restart on the same data), with a clock of
/// its own that the test can move.
pub async fn start(backend: Backend, mut config: cairn::Config, dir: TempDir) -> TestApp {
    let clock = kernel::ManualClock::offset();
    config.clock = clock.clone();
    if let Ok(filter) = std::env::var("CAIRN_TEST_LOG") {
        // Logs of the app under test, e.g. CAIRN_TEST_LOG=warn (tests capture them per test).
        telemetry::init(telemetry::Format::Pretty, &filter);
    }
    let running = cairn::spawn(config.clone()).await.expect("cairn starts");
    let api = Api::new(backend, running.url(), running.db.clone(), cairn::app::bindings());
    TestApp { api, clock, config, running: Some(running), dir }
}

impl TestApp {
    /// Graceful shutdown (drains in-flight work).
    pub async fn shutdown(mut self) -> (cairn::Config, TempDir) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        (self.config, self.dir)
    }
}
