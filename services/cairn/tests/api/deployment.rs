//! A distributed deployment of real `cairn serve` processes on one PostgreSQL database and one
//! RabbitMQ namespace, for the tests that kill and start them (failover.rs, restart.rs).

use crate::crash::free_port;
use cairn::config::Service;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use testkit::Api;

/// A `cairn serve` process; dropped, it is killed.
pub struct Serve {
    pub child: Child,
    pub url: String,
}

impl Serve {
    /// `kill -9`, then reaps it.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What every process of the deployment shares.
pub struct Deployment {
    pub pg: testkit::PgDatabase,
    pub amqp_url: String,
    pub prefix: String,
    pub public_url: String,
    pub front_port: u16,
}

impl Deployment {
    /// A fresh database and RabbitMQ namespace; the front (the public URL) on a free port.
    pub async fn new() -> Deployment {
        let pg = testkit::fresh_pg_database().await;
        let (amqp_url, prefix) = testkit::fresh_amqp();
        let front_port = free_port();
        Deployment { pg, amqp_url, prefix, public_url: format!("http://127.0.0.1:{front_port}"), front_port }
    }

    /// Starts `cairn serve <services>` on `port`.
    pub fn serve(&self, services: &[&str], port: u16) -> Serve {
        self.serve_with(services, port, &[])
    }

    /// [`Deployment::serve`] with more environment variables.
    pub fn serve_with(&self, services: &[&str], port: u16, env: &[(&str, &str)]) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("serve")
            .args(services)
            .env("CAIRN_LISTEN", format!("127.0.0.1:{port}"))
            .env("CAIRN_PUBLIC_URL", &self.public_url)
            .env("CAIRN_DATABASE_URL", &self.pg.app_url)
            .env("CAIRN_MIGRATION_DATABASE_URL", &self.pg.owner_url)
            .env("CAIRN_MIGRATE_ON_START", "true")
            .env("CAIRN_AMQP_URL", &self.amqp_url)
            .env("CAIRN_AMQP_PREFIX", &self.prefix)
            .env("CAIRN_AMQP_SHARDS", crate::harness::TEST_SHARDS.to_string())
            .env("CAIRN_JWT_SECRET", "deployment-test-secret-of-at-least-32-chars")
            .env("CAIRN_DB_MAX_CONNECTIONS", "10")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cairn serve");
        Serve { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// Starts the front: every service but `except`, on the public URL's port.
    pub fn serve_front(&self, except: Service) -> Serve {
        self.serve_front_with(except, &[])
    }

    /// [`Deployment::serve_front`] with more environment variables.
    pub fn serve_front_with(&self, except: Service, env: &[(&str, &str)]) -> Serve {
        let names: Vec<String> =
            Service::ALL.into_iter().filter(|s| *s != except).map(|s| format!("{s:?}").to_lowercase()).collect();
        self.serve_with(&names.iter().map(String::as_str).collect::<Vec<_>>(), self.front_port, env)
    }
}

/// Waits until `/readyz` answers 200 (database and bus reachable).
pub async fn ready(client: &reqwest::Client, s: &Serve) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{}/readyz", s.url)).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(Instant::now() < deadline, "{} did not become ready", s.url);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the count `sql` reaches `want`, for at most `limit`; `what` names it on failure.
pub async fn count_reaches(api: &Api, sql: &str, want: i64, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    loop {
        let n = api.scalar(sql).await;
        if n >= want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {n} of {want} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
