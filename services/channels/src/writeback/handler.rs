//! The channels consumer: `order.shipped` becomes a shipment write-back, `stock.level_changed`
//! the stored level and a new plan of what each shop displays.

use super::{plan, state};
use crate::db::{shipment_writebacks, shops};
use kernel::{
    Envelope, Event, SharedClock,
    events::{OrderShipped, StockLevelChanged},
};
use sea_orm::{ActiveValue::Set, EntityTrait, sea_query::OnConflict};
use uuid::Uuid;

/// The consumer name.
pub const CONSUMER: &str = "channels";
/// The topics it binds.
pub const TOPICS: &[&str] = &[OrderShipped::TYPE, StockLevelChanged::TYPE];

/// Turns bus events into write-back rows.
pub struct WritebackHandler {
    db: store::Db,
    clock: SharedClock,
}

impl WritebackHandler {
    /// A handler writing to `db`; rows are due at `clock`'s now.
    pub fn new(db: store::Db, clock: SharedClock) -> Self {
        WritebackHandler { db, clock }
    }
}

#[async_trait::async_trait]
impl bus::TxHandler for WritebackHandler {
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
        &self.db
    }
    /// Set-based: one inbox claim; shipments one by one (they are few); stock levels coalesced
    /// to the newest version per (tenant, SKU), one newer-wins upsert of those returning the
    /// ones that changed, one read of their tenants' shops and one upsert of the shops'
    /// pushes. The end state equals applying the events one by one: of a SKU's levels, the
    /// newest decides both the stored level and the last plan, and an older one is either not
    /// newer than what is stored or overwritten by it.
    async fn apply_batch(&self, tx: &sea_orm::DatabaseTransaction, envs: &[Envelope]) -> anyhow::Result<()> {
        let claimed = bus::inbox::claim_many(tx, CONSUMER, envs).await?;
        let mut newest: std::collections::BTreeMap<(Uuid, String), StockLevelChanged> =
            std::collections::BTreeMap::new();
        for env in envs.iter().filter(|e| claimed.contains(&e.id)) {
            match env.kind.as_str() {
                OrderShipped::TYPE => self.shipped(tx, env).await?,
                StockLevelChanged::TYPE => {
                    let ev: StockLevelChanged = env.decode()?;
                    let key = (env.tenant_id.0, ev.sku_code.clone());
                    if newest.get(&key).is_none_or(|seen| seen.version < ev.version) {
                        newest.insert(key, ev);
                    }
                }
                other => anyhow::bail!("channels does not consume {other}"),
            }
        }
        let levels = newest.into_iter().map(|((t, _), ev)| (t, ev)).collect();
        Ok(plan::apply_levels(&self.db, tx, levels, self.clock.as_ref()).await?)
    }
}

impl WritebackHandler {
    /// A shipment to write back (its message already claimed).
    #[tracing::instrument(skip_all, fields(tenant_id = %env.tenant_id, message_id = %env.id))]
    async fn shipped(&self, tx: &sea_orm::DatabaseTransaction, env: &Envelope) -> anyhow::Result<()> {
        let ev: OrderShipped = env.decode()?;
        let t = env.tenant_id.0;
        let now = self.clock.now();
        let channel = shops::find(tx, t, ev.channel_id).await?;
        let has_api = channel.as_ref().is_some_and(|c| c.api_base_url.is_some());
        let row = shipment_writebacks::ActiveModel {
            tenant_id: Set(t),
            channel_id: Set(ev.channel_id),
            external_id: Set(ev.external_id),
            waybill_no: Set(ev.waybill_no),
            order_id: Set(ev.order_id),
            company_code: Set(ev.company_code),
            line_ids: Set(ev.external_line_ids.map(|l| serde_json::to_string(&l).expect("JSON"))),
            state: Set(if has_api { state::PENDING } else { state::NO_API }.to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            last_error: Set((!has_api).then(|| "the shop has no Open API credentials".to_owned())),
            created_at: Set(now),
            done_at: Set(None),
        };
        shipment_writebacks::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    shipment_writebacks::Column::TenantId,
                    shipment_writebacks::Column::ChannelId,
                    shipment_writebacks::Column::ExternalId,
                    shipment_writebacks::Column::WaybillNo,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(tx)
            .await?;
        Ok(())
    }
}
