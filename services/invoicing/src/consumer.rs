//! `order.changed` → invoices and credit notes.

use crate::service::Invoicing;
use kernel::{Envelope, Event, events::OrderChanged};

/// The consumer name (queue, inbox scope).
pub const CONSUMER: &str = "invoicing";
/// The topics it binds.
pub const TOPICS: &[&str] = &[OrderChanged::TYPE];

/// Issues what order events make due.
pub struct InvoicingHandler {
    svc: Invoicing,
}

impl InvoicingHandler {
    /// A handler over the invoicing use cases.
    pub fn new(svc: Invoicing) -> Self {
        InvoicingHandler { svc }
    }
}

#[async_trait::async_trait]
impl bus::Handler for InvoicingHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }
    fn topics(&self) -> &'static [&'static str] {
        TOPICS
    }
    fn concurrency(&self) -> usize {
        4
    }
    #[tracing::instrument(skip_all, fields(tenant_id = %env.tenant_id, message_id = %env.id))]
    async fn handle(&self, env: Envelope) -> anyhow::Result<()> {
        match env.kind.as_str() {
            OrderChanged::TYPE => self.svc.on_order_changed(&env, CONSUMER).await,
            other => anyhow::bail!("invoicing does not consume {other}"),
        }
    }
    /// Group commit on the embedded bus.
    async fn handle_batch(&self, envs: &[Envelope]) -> anyhow::Result<bool> {
        if envs.iter().any(|e| e.kind != OrderChanged::TYPE) {
            return Ok(false);
        }
        let tx = self.svc.db.write().await?;
        for env in envs {
            self.svc.on_order_changed_in(&tx, env, CONSUMER).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
