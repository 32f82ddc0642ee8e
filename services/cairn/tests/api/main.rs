//! Behaviour tests against real components. Each test runs twice: on the embedded default
//! (SQLite + embedded bus) and on PostgreSQL + RabbitMQ (started by `cargo xtask test`).

/// Declares a test that runs on both backends.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn embedded() {
                super::$name(crate::harness::spawn_app(testkit::Backend::Embedded).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn distributed() {
                super::$name(crate::harness::spawn_app(testkit::Backend::Distributed).await).await
            }
        }
    };
}

mod harness;

mod allocation;
mod apps;
mod auth;
mod contract;
mod crash;
mod dashboard;
mod deployment;
mod failover;
mod fairness;
mod fulfilment;
mod holds;
mod inventory;
mod invoicing;
mod isolation;
mod layout;
mod metrics;
mod orders;
mod reconcile;
mod restart;
mod rls;
mod sharding;
mod shipping;
mod shopify;
mod subscriptions;
mod webhooks;
