//! The write-backs still to do, counted for `/metrics` (`cairn_writebacks_waiting`).
//!
//! A gauge refreshed on a timer by the processes that serve channels, not on scrape: a scrape
//! costs nothing, and the count costs one grouped `COUNT` per table every [`EVERY`] however
//! often Prometheus asks. Every replica reports the same figure (take `max` across them).
//!
//! The count is over every tenant (a figure for the operator, with no tenant in its labels).
//! *When PostgreSQL row-level security lands* this query runs outside a tenant context, so it
//! needs a role or a `SECURITY DEFINER` function that may count across tenants.

use super::state;
use sea_orm::{ConnectionTrait, DbErr};
use std::{collections::HashMap, time::Duration};
use tokio::sync::watch;

/// How often the counts are refreshed.
pub const EVERY: Duration = Duration::from_secs(10);

/// The states that are not done, each reported (0 included, so a gauge falls back to 0):
/// due or backing off, waiting for Open API credentials, refused for good (needs a person).
const WAITING: [&str; 3] = [state::PENDING, state::NO_API, state::REJECTED];

/// The `kind` label and the table it counts. `shipment_writebacks` has an index on
/// `(state, next_attempt_at)`, so its done rows (most of it, growing forever) are not read;
/// `stock_pushes` holds one row per shop and SKU and is read whole.
const TABLES: [(&str, &str); 2] = [("shipment", "shipment_writebacks"), ("stock", "stock_pushes")];

/// Counts the write-backs not done by kind and state and sets the gauges.
pub async fn measure(db: &store::Db) -> Result<(), DbErr> {
    for (kind, table) in TABLES {
        let sql = format!("select state, count(*) as n from {table} where state in (?, ?, ?) group by state");
        let values = WAITING.iter().map(|s| (*s).into()).collect();
        let rows = db.conn().query_all_raw(store::stmt(db, &sql, values)).await?;
        let counts: HashMap<String, i64> = rows
            .iter()
            .map(|r| Ok((r.try_get_by_index::<String>(0)?, r.try_get_by_index::<i64>(1)?)))
            .collect::<Result<_, DbErr>>()?;
        for st in WAITING {
            let n = counts.get(st).copied().unwrap_or(0).max(0) as u64;
            telemetry::metrics::writebacks_waiting(kind, st, n);
        }
    }
    Ok(())
}

/// Refreshes the gauges now and every [`EVERY`] until `stop` turns true.
pub fn start(db: store::Db, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !*stop.borrow() {
            if let Err(e) = measure(&db).await {
                tracing::debug!(error = %e, "cannot count the write-backs waiting");
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stop.changed() => {}
            }
        }
    })
}
