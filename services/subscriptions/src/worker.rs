//! The delivery worker: sends due deliveries, at least once, with retries and backoff.
//!
//! Each round claims up to [`BATCH`] due deliveries in one write (a one-minute lease: their
//! next attempt moves a minute ahead, so another instance does not send them meanwhile and a
//! crash mid-send only delays them), sends them [`PARALLEL`] at a time with a ten-second
//! timeout and no redirects, and records every attempt in one write. A 2xx answer delivers;
//! anything else is retried after 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, then every
//! 8 h. A subscription whose attempts have all failed for three days is disabled with the
//! reason; its pending deliveries wait (parked) until it is enabled again.

use crate::{
    db::{event_deliveries, event_delivery_attempts, event_subscriptions},
    sign,
};
use chrono::{DateTime, Duration, Timelike, Utc};
use kernel::SharedClock;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use std::collections::HashMap;
use tokio::sync::watch;
use uuid::Uuid;

/// Deliveries claimed per round.
const BATCH: u64 = 32;
/// Requests in flight at once.
const PARALLEL: usize = 8;
/// How long a failing subscription keeps trying before it is disabled.
pub const GIVE_UP_AFTER: Duration = Duration::days(3);

/// The wait before attempt `n + 1` after `n` failed attempts.
pub fn backoff(failed: i64) -> Duration {
    const STEPS: [i64; 8] = [5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400];
    Duration::seconds(STEPS.get((failed.max(1) - 1) as usize).copied().unwrap_or(28_800))
}

struct Outcome {
    delivery: event_deliveries::Model,
    /// The subscription no longer exists: give the delivery up.
    gone: bool,
    status_code: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
}

/// Runs the worker until `stop`.
pub fn spawn(db: store::Db, clock: SharedClock, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Cairn-Webhooks/1")
            .build()
            .expect("an HTTP client");
        let mut commits = db.subscribe_commits();
        loop {
            if *stop.borrow() {
                return;
            }
            match round(&db, &clock, &client).await {
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "event deliveries: a round failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                _ = commits.changed() => {}
                _ = stop.changed() => {}
            }
        }
    })
}

/// Claims, sends and records one batch; returns how many were sent.
pub async fn round(db: &store::Db, clock: &SharedClock, client: &reqwest::Client) -> anyhow::Result<usize> {
    let now = clock.now();
    // Whole seconds, so the value reads back equal on both backends (see `record`).
    let lease = (now + Duration::minutes(1)).with_nanosecond(0).unwrap_or(now);
    let due = claim(db, now, lease).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let subs = subscriptions(db, &due).await?;
    let mut outcomes = Vec::with_capacity(due.len());
    let mut parked = Vec::new();
    let mut sends = Vec::new();
    for d in due {
        match subs.get(&(d.tenant_id, d.subscription_id)) {
            Some(s) if s.status == "active" => sends.push((d, s.url.clone(), s.secret.clone())),
            Some(_) => parked.push(d),
            None => outcomes.push(Outcome {
                delivery: d,
                gone: true,
                status_code: None,
                error: Some("the subscription was deleted".into()),
                duration_ms: 0,
            }),
        }
    }
    let n = sends.len();
    let sent =
        futures_util::stream::iter(sends.into_iter().map(|(d, url, secret)| send(client, clock, d, url, secret)));
    let mut sent: Vec<Outcome> =
        futures_util::StreamExt::collect(futures_util::StreamExt::buffer_unordered(sent, PARALLEL)).await;
    outcomes.append(&mut sent);
    record(db, clock.now(), lease, outcomes, parked).await?;
    Ok(n)
}

async fn claim(
    db: &store::Db,
    now: DateTime<Utc>,
    lease: DateTime<Utc>,
) -> anyhow::Result<Vec<event_deliveries::Model>> {
    let candidates = event_deliveries::Entity::find()
        .filter(event_deliveries::Column::Status.eq("pending"))
        .filter(event_deliveries::Column::NextAttemptAt.lte(now))
        .order_by_asc(event_deliveries::Column::NextAttemptAt)
        .limit(BATCH)
        .all(db.conn())
        .await?;
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let tx = db.write_named("subscriptions-worker").await?;
    let mut claimed = Vec::with_capacity(candidates.len());
    for d in candidates {
        let r = event_deliveries::Entity::update_many()
            .col_expr(event_deliveries::Column::NextAttemptAt, Expr::value(lease))
            .filter(event_deliveries::Column::TenantId.eq(d.tenant_id))
            .filter(event_deliveries::Column::Id.eq(d.id))
            .filter(event_deliveries::Column::Status.eq("pending"))
            .filter(event_deliveries::Column::NextAttemptAt.lte(now))
            .exec(&*tx)
            .await?;
        if r.rows_affected == 1 {
            claimed.push(d);
        }
    }
    tx.commit().await?;
    Ok(claimed)
}

async fn subscriptions(
    db: &store::Db,
    due: &[event_deliveries::Model],
) -> anyhow::Result<HashMap<(Uuid, Uuid), event_subscriptions::Model>> {
    let mut ids: Vec<Uuid> = due.iter().map(|d| d.subscription_id).collect();
    ids.sort();
    ids.dedup();
    let subs =
        event_subscriptions::Entity::find().filter(event_subscriptions::Column::Id.is_in(ids)).all(db.conn()).await?;
    Ok(subs.into_iter().map(|s| ((s.tenant_id, s.id), s)).collect())
}

async fn send(
    client: &reqwest::Client,
    clock: &SharedClock,
    d: event_deliveries::Model,
    url: String,
    secret: String,
) -> Outcome {
    let msg_id = format!("msg_{}", d.id.simple());
    let ts = clock.now().timestamp();
    let started = std::time::Instant::now();
    let result = client
        .post(&url)
        .header("content-type", "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sign::signature(&secret, &msg_id, ts, &d.body))
        .body(d.body.clone())
        .send()
        .await;
    let duration_ms = started.elapsed().as_millis() as i64;
    match result {
        Ok(resp) => {
            let code = i64::from(resp.status().as_u16());
            let error = (!resp.status().is_success()).then(|| format!("answered {}", resp.status()));
            Outcome { delivery: d, gone: false, status_code: Some(code), error, duration_ms }
        }
        Err(e) => {
            let what = if e.is_timeout() { "timed out after 10 s".to_owned() } else { format!("could not send: {e}") };
            Outcome { delivery: d, gone: false, status_code: None, error: Some(what), duration_ms }
        }
    }
}

/// Records the attempts. A delivery redelivered or replayed while it was being sent (its
/// lease replaced) keeps that new schedule: only the attempt's facts are written to it.
async fn record(
    db: &store::Db,
    now: DateTime<Utc>,
    lease: DateTime<Utc>,
    outcomes: Vec<Outcome>,
    parked: Vec<event_deliveries::Model>,
) -> anyhow::Result<()> {
    let tx = db.write_named("subscriptions-worker").await?;
    let mut succeeded: HashMap<(Uuid, Uuid), bool> = HashMap::new();
    for o in &outcomes {
        let d = &o.delivery;
        let ok = o.error.is_none();
        event_delivery_attempts::Entity::insert(event_delivery_attempts::ActiveModel::from(
            event_delivery_attempts::Model {
                tenant_id: d.tenant_id,
                id: kernel::new_id(),
                delivery_id: d.id,
                subscription_id: d.subscription_id,
                at: now,
                status_code: o.status_code,
                error: o.error.clone(),
                duration_ms: o.duration_ms,
            },
        ))
        .exec_without_returning(&*tx)
        .await?;
        let attempts = d.attempts + 1;
        let deleted = o.gone;
        telemetry::metrics::subscription_delivery(if ok {
            "delivered"
        } else if deleted {
            "gave_up"
        } else {
            "failed"
        });
        let (status, next, delivered_at) = if ok {
            ("delivered", None, Some(now))
        } else if deleted {
            ("failed", None, None)
        } else {
            ("pending", Some(now + backoff(attempts)), None)
        };
        let facts = |q: sea_orm::UpdateMany<event_deliveries::Entity>| {
            q.col_expr(event_deliveries::Column::Attempts, Expr::value(attempts))
                .col_expr(event_deliveries::Column::LastStatusCode, Expr::value(o.status_code))
                .col_expr(event_deliveries::Column::LastError, Expr::value(o.error.clone()))
                .filter(event_deliveries::Column::TenantId.eq(d.tenant_id))
                .filter(event_deliveries::Column::Id.eq(d.id))
        };
        let r = facts(event_deliveries::Entity::update_many())
            .col_expr(event_deliveries::Column::Status, Expr::value(status))
            .col_expr(event_deliveries::Column::NextAttemptAt, Expr::value(next))
            .col_expr(event_deliveries::Column::DeliveredAt, Expr::value(delivered_at.or(d.delivered_at)))
            .filter(event_deliveries::Column::NextAttemptAt.eq(lease))
            .exec(&*tx)
            .await?;
        if r.rows_affected == 0 {
            facts(event_deliveries::Entity::update_many()).exec(&*tx).await?;
        }
        if !deleted {
            let e = succeeded.entry((d.tenant_id, d.subscription_id)).or_insert(false);
            *e |= ok;
        }
    }
    for d in parked {
        // The subscription is disabled: wait, without a time, until it is enabled again.
        event_deliveries::Entity::update_many()
            .col_expr(event_deliveries::Column::NextAttemptAt, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(event_deliveries::Column::TenantId.eq(d.tenant_id))
            .filter(event_deliveries::Column::Id.eq(d.id))
            .filter(event_deliveries::Column::NextAttemptAt.eq(lease))
            .exec(&*tx)
            .await?;
    }
    for ((tenant, id), ok) in succeeded {
        let Some(s) = event_subscriptions::Entity::find_by_id((tenant, id)).one(&*tx).await? else { continue };
        let mut m: event_subscriptions::ActiveModel = s.clone().into();
        if ok {
            if s.failing_since.is_none() {
                continue;
            }
            m.failing_since = Set(None);
        } else {
            let since = s.failing_since.unwrap_or(now);
            m.failing_since = Set(Some(since));
            if now - since >= GIVE_UP_AFTER && s.status == "active" {
                m.status = Set("disabled".into());
                m.disabled_reason = Set(Some(format!(
                    "Every delivery failed for 3 days (since {}); enable the subscription again once the endpoint answers 2xx.",
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )));
                tracing::warn!(tenant_id = %tenant, subscription_id = %id, "event subscription disabled after 3 days of failures");
            }
        }
        m.updated_at = Set(now);
        event_subscriptions::Entity::update(m).exec(&*tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_then_stays_at_eight_hours() {
        assert_eq!(super::backoff(1).num_seconds(), 5);
        assert_eq!(super::backoff(2).num_seconds(), 30);
        assert_eq!(super::backoff(8).num_seconds(), 14_400);
        assert_eq!(super::backoff(50).num_seconds(), 28_800);
    }
}
