//! `order.changed` → the order's reservation, through the engine (so it joins a batch).

use crate::{
    Engine,
    domain::SyncOrder,
    engine::{CONSUMER, Command},
};
use kernel::{Envelope, Event, events::OrderChanged};

/// Keeps each order's stock in line with its status.
pub struct OrderStockHandler {
    engine: Engine,
}

impl OrderStockHandler {
    /// A handler feeding `engine`.
    pub fn new(engine: Engine) -> Self {
        OrderStockHandler { engine }
    }
}

/// The topics this consumer binds.
pub const TOPICS: &[&str] = &[OrderChanged::TYPE];

#[async_trait::async_trait]
impl bus::Handler for OrderStockHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }
    fn topics(&self) -> &'static [&'static str] {
        TOPICS
    }
    /// Many at once: the engine batches them into one transaction per partition.
    fn concurrency(&self) -> usize {
        512
    }
    async fn handle(&self, env: Envelope) -> anyhow::Result<()> {
        let o: OrderChanged = env.decode()?;
        let sync = SyncOrder {
            order_id: o.order_id,
            channel_id: o.channel_id,
            reference: o.external_id,
            revision: o.revision,
            status: o.status,
            created_at: o.created_at,
            paid_at: o.paid_at,
            hold_ttl_seconds: o.hold_ttl_seconds,
            lines: o.lines,
            province: o.receiver.map(|r| r.province).filter(|p| !p.trim().is_empty()),
        };
        self.engine.call(env.tenant_id, Command::SyncOrder { sync, message: env }).await?;
        Ok(())
    }
}
