//! Returns after sale (退货): lines that left through Cairn and that the buyer sends back are
//! expected (from `order.return_expected`); receiving them restocks the sellable units (a
//! `return` movement in the ledger, through `stock.returned`) and counts damaged ones apart,
//! once.

use crate::{
    db::{self, shipping_returns},
    service::{Error, Shipping},
};
use kernel::{
    Envelope, TenantId, Timestamp,
    events::{OrderReturnExpected, ReturnedUnits, StockReturned},
};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, sea_query::OnConflict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A line expected back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    pub external_line_id: String,
    pub sku_code: String,
    pub title: String,
    pub quantity: i64,
}

/// How a received unit came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Can be sold again: back in stock.
    Sellable,
    /// Counted apart, not restocked.
    Damaged,
}

/// What arrived of one SKU in one condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    pub sku_code: String,
    pub quantity: i64,
    pub condition: Condition,
}

/// A return as stored.
#[derive(Debug, Clone)]
pub struct Return {
    pub id: Uuid,
    pub order_id: Uuid,
    pub external_id: String,
    pub shipment_id: Option<Uuid>,
    pub warehouse_code: String,
    pub expected: Vec<Expected>,
    pub received: Option<Vec<Received>>,
    /// `expected` or `received`.
    pub status: String,
    pub created_at: Timestamp,
    pub received_at: Option<Timestamp>,
}

fn of(m: shipping_returns::Model) -> Return {
    Return {
        id: m.id,
        order_id: m.order_id,
        external_id: m.external_id,
        shipment_id: m.shipment_id,
        warehouse_code: m.warehouse_code,
        expected: serde_json::from_str(&m.expected).unwrap_or_default(),
        received: m.received.as_deref().and_then(|r| serde_json::from_str(r).ok()),
        status: m.status,
        created_at: m.created_at,
        received_at: m.received_at,
    }
}

/// Records the return `ev` announces (once per order and set of lines), in the consumer's
/// transaction. The units go back to the warehouse of the shipment that carried them.
pub async fn expect<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    ev: &OrderReturnExpected,
    now: Timestamp,
) -> Result<(), DbErr> {
    let mut lines: Vec<&str> = ev.lines.iter().map(|l| l.external_line_id.as_str()).collect();
    lines.sort_unstable();
    let key = format!("{}:{}", ev.order_id, lines.join(","));
    let ids = db::ids_with_orders(conn, tenant, &[ev.order_id]).await?;
    let carrier = db::load(conn, tenant, &ids, false).await?.into_iter().find(|s| {
        s.status.has_left()
            && s.lines.iter().any(|l| l.order_id == ev.order_id && lines.contains(&l.external_line_id.as_str()))
    });
    let expected: Vec<Expected> = ev
        .lines
        .iter()
        .map(|l| Expected {
            external_line_id: l.external_line_id.clone(),
            sku_code: l.sku_code.clone(),
            title: l.title.clone(),
            quantity: l.quantity,
        })
        .collect();
    use shipping_returns::Column as C;
    shipping_returns::Entity::insert(shipping_returns::ActiveModel {
        tenant_id: Set(tenant.0),
        id: Set(kernel::new_id()),
        return_key: Set(key),
        order_id: Set(ev.order_id),
        external_id: Set(ev.external_id.clone()),
        shipment_id: Set(carrier.as_ref().map(|s| s.id)),
        warehouse_code: Set(carrier.map_or_else(|| "MAIN".to_owned(), |s| s.warehouse_code)),
        expected: Set(serde_json::to_string(&expected).expect("JSON")),
        received: Set(None),
        status: Set("expected".into()),
        created_at: Set(now),
        received_at: Set(None),
    })
    .on_conflict(OnConflict::columns([C::TenantId, C::ReturnKey]).do_nothing().to_owned())
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Sums `lines` per SKU and condition, ordered by SKU then condition (sellable first).
fn normalise(lines: Vec<Received>) -> Vec<Received> {
    let mut sums: BTreeMap<(String, bool), i64> = BTreeMap::new();
    for l in lines {
        *sums.entry((l.sku_code, l.condition == Condition::Damaged)).or_default() += l.quantity;
    }
    sums.into_iter()
        .map(|((sku_code, damaged), quantity)| Received {
            sku_code,
            quantity,
            condition: if damaged { Condition::Damaged } else { Condition::Sellable },
        })
        .collect()
}

impl Shipping {
    /// A page of the tenant's returns, newest first (`status`: `expected` or `received`), after
    /// the return `before` when given; and whether more follow.
    pub async fn returns(
        &self,
        tenant: TenantId,
        status: Option<&str>,
        order_id: Option<Uuid>,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<(Vec<Return>, bool), Error> {
        use sea_orm::{QueryOrder, QuerySelect};
        let mut q = shipping_returns::Entity::find().filter(shipping_returns::Column::TenantId.eq(tenant.0));
        if let Some(s) = status {
            q = q.filter(shipping_returns::Column::Status.eq(s));
        }
        if let Some(o) = order_id {
            q = q.filter(shipping_returns::Column::OrderId.eq(o));
        }
        if let Some(b) = before {
            q = q.filter(shipping_returns::Column::Id.lt(b));
        }
        let rows =
            q.order_by_desc(shipping_returns::Column::Id).limit(limit + 1).all(self.db.tenant(tenant.0).conn()).await?;
        let more = rows.len() as u64 > limit;
        Ok((rows.into_iter().take(limit as usize).map(of).collect(), more))
    }

    /// How many of the tenant's returns are expected and received.
    pub async fn return_counts(&self, tenant: TenantId) -> Result<(u64, u64), Error> {
        use sea_orm::QuerySelect;
        let rows: Vec<(String, i64)> = shipping_returns::Entity::find()
            .select_only()
            .column(shipping_returns::Column::Status)
            .column_as(shipping_returns::Column::Id.count(), "n")
            .filter(shipping_returns::Column::TenantId.eq(tenant.0))
            .group_by(shipping_returns::Column::Status)
            .into_tuple()
            .all(self.db.tenant(tenant.0).conn())
            .await?;
        let n = |s: &str| rows.iter().find(|r| r.0 == s).map_or(0, |r| r.1 as u64);
        Ok((n("expected"), n("received")))
    }

    /// The tenant's return `id`.
    pub async fn return_of(&self, tenant: TenantId, id: Uuid) -> Result<Option<Return>, Error> {
        Ok(shipping_returns::Entity::find_by_id((tenant.0, id)).one(self.db.tenant(tenant.0).conn()).await?.map(of))
    }

    /// Receives return `id`: the sellable units go back in stock, the damaged ones are
    /// counted apart. Once: the same receipt again answers the same; another is refused.
    pub async fn receive(&self, tenant: TenantId, id: Uuid, lines: Vec<Received>) -> Result<Return, Error> {
        if lines.is_empty() || lines.len() > 200 {
            return Err(Error::Invalid("name 1-200 received lines".into()));
        }
        if let Some(l) = lines.iter().find(|l| l.quantity <= 0) {
            return Err(Error::Invalid(format!("{}: quantity must be positive", l.sku_code)));
        }
        // One line per SKU and condition, in order: the same receipt however it was written.
        let lines = normalise(lines);
        let now = self.clock.now();
        let tx = self.db.tenant(tenant.0).write_named("shipping").await?;
        let mut q = shipping_returns::Entity::find_by_id((tenant.0, id));
        if self.db.is_postgres() {
            use sea_orm::QuerySelect;
            q = q.lock_exclusive();
        }
        let r = q.one(&*tx).await?.map(of).ok_or(Error::NotFound)?;
        if let Some(done) = &r.received {
            return if normalise(done.clone()) == lines {
                tx.commit().await?;
                Ok(r)
            } else {
                let what: Vec<String> = done
                    .iter()
                    .map(|l| {
                        format!(
                            "{} × {} {}",
                            l.sku_code,
                            l.quantity,
                            if l.condition == Condition::Damaged { "damaged" } else { "sellable" }
                        )
                    })
                    .collect();
                Err(Error::Conflict(format!(
                    "the return was already received, with other quantities: {}",
                    what.join(", ")
                )))
            };
        }
        let mut expected: BTreeMap<&str, i64> = BTreeMap::new();
        for e in &r.expected {
            *expected.entry(e.sku_code.as_str()).or_default() += e.quantity;
        }
        let mut got: BTreeMap<&str, i64> = BTreeMap::new();
        for l in &lines {
            if !expected.contains_key(l.sku_code.as_str()) {
                return Err(Error::UnknownReference(format!("the return expects no SKU `{}`", l.sku_code)));
            }
            *got.entry(l.sku_code.as_str()).or_default() += l.quantity;
        }
        if let Some((sku, n)) = got.iter().find(|(sku, n)| **n > expected[**sku]) {
            return Err(Error::Invalid(format!("{sku}: {n} received, {} expected", expected[*sku])));
        }
        let mut sellable: BTreeMap<&str, i64> = BTreeMap::new();
        for l in lines.iter().filter(|l| l.condition == Condition::Sellable) {
            *sellable.entry(l.sku_code.as_str()).or_default() += l.quantity;
        }
        shipping_returns::Entity::update(shipping_returns::ActiveModel {
            tenant_id: Set(tenant.0),
            id: Set(id),
            received: Set(Some(serde_json::to_string(&lines).expect("JSON"))),
            status: Set("received".into()),
            received_at: Set(Some(now)),
            ..Default::default()
        })
        .exec(&*tx)
        .await?;
        if !sellable.is_empty() {
            let ev = StockReturned {
                return_key: format!("return:{id}"),
                warehouse_code: r.warehouse_code.clone(),
                lines: sellable
                    .into_iter()
                    .map(|(s, q)| ReturnedUnits { sku_code: s.to_owned(), quantity: q })
                    .collect(),
                cause: format!("return of {} received", r.external_id),
            };
            bus::outbox::enqueue(&*tx, &[Envelope::new(tenant, &ev, now, None)]).await?;
        }
        if let Some(s) = r.shipment_id {
            let damaged: i64 = lines.iter().filter(|l| l.condition == Condition::Damaged).map(|l| l.quantity).sum();
            let restocked: i64 = lines.iter().filter(|l| l.condition == Condition::Sellable).map(|l| l.quantity).sum();
            let note =
                format!("Return of {} received: {restocked} unit(s) back in stock, {damaged} damaged", r.external_id);
            db::history(&*tx, tenant, &[(s, note)], now).await?;
        }
        tx.commit().await?;
        self.return_of(tenant, id).await?.ok_or(Error::NotFound)
    }
}
