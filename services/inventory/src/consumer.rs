//! `order.changed` → the order's reservation, and `stock.returned` → goods back on hand,
//! through the engine (so they join a batch); and, on RabbitMQ, the API's commands sent to
//! this instance as the owner of their tenant's shard (`crate::remote`).

use crate::{
    Engine,
    domain::SyncOrder,
    engine::{CONSUMER, Command},
};
use kernel::{
    Envelope, Event,
    events::{OrderChanged, StockReturned},
};

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
pub const TOPICS: &[&str] = &[OrderChanged::TYPE, StockReturned::TYPE];

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
        if env.kind == StockReturned::TYPE {
            let r: StockReturned = env.decode()?;
            let cmd = Command::Return {
                warehouse_code: r.warehouse_code,
                lines: r.lines.into_iter().map(|l| (l.sku_code, l.quantity)).collect(),
                cause: r.cause,
                message: env.clone(),
            };
            self.engine.call(env.tenant_id, cmd).await?;
            return Ok(());
        }
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
    /// An API command from a process that sent it to this shard's owner.
    async fn answer(&self, env: Envelope) -> anyhow::Result<Vec<u8>> {
        crate::remote::answer(&self.engine, env).await
    }
}
