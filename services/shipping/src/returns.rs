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

impl Shipping {
    /// The tenant's returns, newest first (`status`: `expected` or `received`).
    pub async fn returns(&self, tenant: TenantId, status: Option<&str>) -> Result<Vec<Return>, Error> {
        use sea_orm::QueryOrder;
        let mut q = shipping_returns::Entity::find().filter(shipping_returns::Column::TenantId.eq(tenant.0));
        if let Some(s) = status {
            q = q.filter(shipping_returns::Column::Status.eq(s));
        }
        let rows = q.order_by_desc(shipping_returns::Column::Id).all(self.db.conn()).await?;
        Ok(rows.into_iter().map(of).collect())
    }

    /// The tenant's return `id`.
    pub async fn return_of(&self, tenant: TenantId, id: Uuid) -> Result<Option<Return>, Error> {
        Ok(shipping_returns::Entity::find_by_id((tenant.0, id)).one(self.db.conn()).await?.map(of))
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
        let now = self.clock.now();
        let tx = self.db.write_named("shipping").await?;
        let mut q = shipping_returns::Entity::find_by_id((tenant.0, id));
        if self.db.is_postgres() {
            use sea_orm::QuerySelect;
            q = q.lock_exclusive();
        }
        let r = q.one(&*tx).await?.map(of).ok_or(Error::NotFound)?;
        if let Some(done) = &r.received {
            return if *done == lines {
                tx.commit().await?;
                Ok(r)
            } else {
                Err(Error::Conflict("the return was already received (with other quantities)".into()))
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
