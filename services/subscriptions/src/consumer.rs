//! The bus consumer: each event a tenant's active subscription wants becomes a pending
//! delivery, in the same transaction that claims the event in the inbox — so a crash loses
//! none and a redelivered message makes none twice. The [`crate::worker`] sends them.

use crate::{
    catalog::{self, EventType},
    db::{event_deliveries, event_subscriptions},
};
use kernel::Envelope;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::OnConflict};
use std::collections::HashSet;

/// The consumer name (queue, inbox scope).
pub const CONSUMER: &str = "subscriptions";

/// Turns events into deliveries.
pub struct SubscriptionsHandler {
    pub db: store::Db,
}

#[async_trait::async_trait]
impl bus::TxHandler for SubscriptionsHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }
    fn topics(&self) -> &'static [&'static str] {
        catalog::TOPICS
    }
    fn concurrency(&self) -> usize {
        4
    }
    fn db(&self) -> &store::Db {
        &self.db
    }
    async fn apply_batch(&self, tx: &sea_orm::DatabaseTransaction, envs: &[Envelope]) -> anyhow::Result<()> {
        let fresh = bus::inbox::claim_many(tx, CONSUMER, envs).await?;
        let envs: Vec<&Envelope> = envs.iter().filter(|e| fresh.contains(&e.id)).collect();
        let tenants: HashSet<uuid::Uuid> = envs.iter().map(|e| e.tenant_id.0).collect();
        if tenants.is_empty() {
            return Ok(());
        }
        let subs = event_subscriptions::Entity::find()
            .filter(event_subscriptions::Column::TenantId.is_in(tenants))
            .filter(event_subscriptions::Column::Status.eq("active"))
            .all(tx)
            .await?;
        if subs.is_empty() {
            return Ok(());
        }
        let now = chrono::Utc::now();
        let mut rows = Vec::new();
        for env in envs {
            let types = EventType::of(env);
            for s in subs.iter().filter(|s| s.tenant_id == env.tenant_id.0) {
                let wanted: Vec<&str> = s.event_types.split(' ').collect();
                for t in types.iter().filter(|t| wanted.contains(&t.as_str())) {
                    rows.push(event_deliveries::ActiveModel::from(event_deliveries::Model {
                        tenant_id: s.tenant_id,
                        id: kernel::new_id(),
                        subscription_id: s.id,
                        event_id: env.id,
                        event_type: t.as_str().to_owned(),
                        occurred_at: env.occurred_at,
                        body: catalog::body(env, *t),
                        status: "pending".into(),
                        attempts: 0,
                        next_attempt_at: Some(now),
                        last_status_code: None,
                        last_error: None,
                        created_at: now,
                        delivered_at: None,
                    }));
                }
            }
        }
        // One row per (subscription, event, public type): `order.paid` and `order.changed` of
        // one bus event are two deliveries.
        for chunk in rows.chunks(200) {
            event_deliveries::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([
                        event_deliveries::Column::TenantId,
                        event_deliveries::Column::SubscriptionId,
                        event_deliveries::Column::EventId,
                        event_deliveries::Column::EventType,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(tx)
                .await?;
        }
        Ok(())
    }
}
