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
impl bus::TxHandler for InvoicingHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }
    fn topics(&self) -> &'static [&'static str] {
        TOPICS
    }
    fn concurrency(&self) -> usize {
        4
    }
    fn db(&self) -> &store::Db {
        &self.svc.db
    }
    #[tracing::instrument(skip_all, fields(messages = envs.len()))]
    async fn apply_batch(&self, tx: &sea_orm::DatabaseTransaction, envs: &[Envelope]) -> anyhow::Result<()> {
        if let Some(other) = envs.iter().find(|e| e.kind != OrderChanged::TYPE) {
            anyhow::bail!("invoicing does not consume {}", other.kind);
        }
        self.svc.on_order_changed(tx, envs, CONSUMER).await
    }
}
