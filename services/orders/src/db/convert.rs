//! Rows ↔ domain types. A stored value the domain cannot name (a status no version of Cairn
//! writes) is a `DbErr`: the row is corrupt, and guessing would write the guess back.

use super::entities::{order_lines, order_shipments, order_timeline, orders};
use crate::domain::{
    Line, Order, TimelineEntry, TimelineKind,
    holds::{Hold, Waiver},
    order::AuditFacts,
    parse_trade_status,
    shipment::Shipment,
    trade_status_name,
};
use kernel::{
    LineReservationState, Money, OrderStatus, TenantId, Timestamp,
    events::{HoldReason, Mapping},
};
use sea_orm::{ActiveValue::Set, DbErr};
use uuid::Uuid;

fn corrupt(what: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(what.to_string())
}

/// The order of `row` with its `lines` (in line order), and the snapshot JSON it keeps.
pub(crate) fn order(row: orders::Model, lines: Vec<order_lines::Model>) -> Result<(Order, String), DbErr> {
    let status =
        OrderStatus::parse(&row.status).ok_or_else(|| corrupt(format!("order {} status `{}`", row.id, row.status)))?;
    let trade_status = parse_trade_status(&row.trade_status)
        .ok_or_else(|| corrupt(format!("order {} trade status `{}`", row.id, row.trade_status)))?;
    let lines = lines.into_iter().map(line).collect::<Result<Vec<_>, _>>()?;
    let holds: Vec<StoredHold> =
        serde_json::from_str(&row.holds).map_err(|e| corrupt(format!("order {} holds: {e}", row.id)))?;
    let waivers: Vec<StoredWaiver> =
        serde_json::from_str(&row.waivers).map_err(|e| corrupt(format!("order {} waivers: {e}", row.id)))?;
    let receiver = row
        .receiver
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| corrupt(format!("order {} receiver: {e}", row.id)))?;
    let order = Order {
        tenant_id: TenantId(row.tenant_id),
        id: row.id,
        channel_id: row.channel_id,
        external_id: row.external_id,
        status,
        trade_status,
        modified: row.modified,
        revision: row.revision,
        trade_created: row.trade_created,
        paid_at: row.paid_at,
        buyer_nick: row.buyer_nick,
        currency: row.currency,
        payment: Money(row.payment),
        hold_ttl_seconds: row.hold_ttl_seconds,
        created_at: row.created_at,
        updated_at: row.updated_at,
        lines,
        audit: AuditFacts {
            buyer_memo: row.buyer_memo,
            seller_memo: row.seller_memo,
            seller_flag: row.seller_flag,
            receiver,
            paid_receiver: row.paid_receiver,
        },
        holds: holds.into_iter().map(|h| h.domain(row.id)).collect::<Result<_, _>>()?,
        waivers: waivers.into_iter().map(|w| w.domain(row.id)).collect::<Result<_, _>>()?,
        ready: row.ready,
    };
    Ok((order, row.snapshot))
}

fn line(row: order_lines::Model) -> Result<Line, DbErr> {
    let reservation =
        match row.reservation_state.as_deref() {
            None => None,
            Some(s) => Some(LineReservationState::parse(s).ok_or_else(|| {
                corrupt(format!("order {} line {} reservation state `{s}`", row.order_id, row.line_no))
            })?),
        };
    let mapping = match row.mapping.as_str() {
        "mapped" => Mapping::Mapped,
        "merchant_code" => Mapping::MerchantCode,
        "unmapped" => Mapping::Unmapped,
        other => return Err(corrupt(format!("order {} line {} mapping `{other}`", row.order_id, row.line_no))),
    };
    Ok(Line {
        line_no: row.line_no,
        external_line_id: row.external_line_id,
        sku_code: (!row.sku_code.is_empty()).then_some(row.sku_code),
        mapping,
        item_id: row.item_id,
        variant_id: row.variant_id,
        properties: row.properties,
        title: row.title,
        quantity: row.quantity,
        unit_price: Money(row.unit_price),
        payment: Money(row.payment),
        refund_status: row.refund_status,
        reservation,
        reservation_version: row.reservation_version,
        shipped_waybill: row.shipped_waybill,
        warehouses: match row.warehouses.as_deref() {
            None => Vec::new(),
            Some(w) => serde_json::from_str(w)
                .map_err(|e| corrupt(format!("order {} line {} warehouses: {e}", row.order_id, row.line_no)))?,
        },
    })
}

/// The row of `o`, keeping `snapshot` (the JSON of the snapshot it was last built from).
pub(crate) fn order_row(o: &Order, snapshot: String) -> orders::Model {
    orders::Model {
        tenant_id: o.tenant_id.0,
        id: o.id,
        channel_id: o.channel_id,
        external_id: o.external_id.clone(),
        status: o.status.as_str().to_owned(),
        trade_status: trade_status_name(o.trade_status).to_owned(),
        modified: o.modified,
        revision: o.revision,
        trade_created: o.trade_created,
        paid_at: o.paid_at,
        buyer_nick: o.buyer_nick.clone(),
        currency: o.currency.clone(),
        payment: o.payment.0,
        snapshot,
        created_at: o.created_at,
        updated_at: o.updated_at,
        hold_ttl_seconds: o.hold_ttl_seconds,
        holds: json(&o.holds.iter().map(StoredHold::of).collect::<Vec<_>>()),
        waivers: json(&o.waivers.iter().map(StoredWaiver::of).collect::<Vec<_>>()),
        buyer_memo: o.audit.buyer_memo.clone(),
        seller_memo: o.audit.seller_memo.clone(),
        seller_flag: o.audit.seller_flag,
        receiver: o.audit.receiver.as_ref().map(json),
        paid_receiver: o.audit.paid_receiver.clone(),
        ready: o.ready,
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serializes")
}

/// A hold as `orders.holds` stores it.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredHold {
    reason: String,
    detail: String,
    since: Timestamp,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    fingerprint: String,
}

impl StoredHold {
    fn of(h: &Hold) -> Self {
        StoredHold {
            reason: h.reason.as_str().to_owned(),
            detail: h.detail.clone(),
            since: h.since,
            by: h.by.clone(),
            fingerprint: h.fingerprint.clone(),
        }
    }

    fn domain(self, order: Uuid) -> Result<Hold, DbErr> {
        let reason =
            HoldReason::parse(&self.reason).ok_or_else(|| corrupt(format!("order {order} hold `{}`", self.reason)))?;
        Ok(Hold { reason, detail: self.detail, since: self.since, by: self.by, fingerprint: self.fingerprint })
    }
}

/// A waiver as `orders.waivers` stores it.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredWaiver {
    reason: String,
    fingerprint: String,
}

impl StoredWaiver {
    fn of(w: &Waiver) -> Self {
        StoredWaiver { reason: w.reason.as_str().to_owned(), fingerprint: w.fingerprint.clone() }
    }

    fn domain(self, order: Uuid) -> Result<Waiver, DbErr> {
        let reason = HoldReason::parse(&self.reason)
            .ok_or_else(|| corrupt(format!("order {order} waiver `{}`", self.reason)))?;
        Ok(Waiver { reason, fingerprint: self.fingerprint })
    }
}

/// The rows of `o`'s lines.
pub(crate) fn line_rows(o: &Order) -> impl Iterator<Item = order_lines::Model> + '_ {
    o.lines.iter().map(|l| order_lines::Model {
        tenant_id: o.tenant_id.0,
        order_id: o.id,
        line_no: l.line_no,
        external_line_id: l.external_line_id.clone(),
        sku_code: l.sku_code.clone().unwrap_or_default(),
        item_id: l.item_id.clone(),
        variant_id: l.variant_id.clone(),
        properties: l.properties.clone(),
        mapping: l.mapping.as_str().to_owned(),
        warehouses: (!l.warehouses.is_empty()).then(|| json(&l.warehouses)),
        title: l.title.clone(),
        quantity: l.quantity,
        unit_price: l.unit_price.0,
        payment: l.payment.0,
        refund_status: l.refund_status.clone(),
        reservation_state: l.reservation.map(|r| r.as_str().to_owned()),
        reservation_version: l.reservation_version,
        shipped_waybill: l.shipped_waybill.clone(),
    })
}

/// A new timeline row for `e` on order `order_id`; its id (UUID v7) orders it after the rows
/// made before it.
pub(crate) fn timeline_row(tenant: Uuid, order_id: Uuid, e: TimelineEntry) -> order_timeline::ActiveModel {
    order_timeline::ActiveModel {
        tenant_id: Set(tenant),
        order_id: Set(order_id),
        id: Set(kernel::new_id()),
        at: Set(e.at),
        kind: Set(e.kind.as_str().to_owned()),
        detail: Set(e.detail),
    }
}

/// The timeline entry of `row`.
pub(crate) fn timeline_entry(row: order_timeline::Model) -> Result<TimelineEntry, DbErr> {
    let kind = TimelineKind::parse(&row.kind)
        .ok_or_else(|| corrupt(format!("order {} timeline {} kind `{}`", row.order_id, row.id, row.kind)))?;
    Ok(TimelineEntry { at: row.at, kind, detail: row.detail })
}

/// The row of shipment `s` of order `order_id`.
pub(crate) fn shipment_row(tenant: Uuid, order_id: Uuid, s: &Shipment) -> Result<order_shipments::Model, DbErr> {
    Ok(order_shipments::Model {
        tenant_id: tenant,
        order_id,
        waybill_no: s.waybill_no.clone(),
        company_code: s.company_code.clone(),
        line_ids: serde_json::to_string(&s.line_ids).map_err(|e| corrupt(format!("shipment line ids: {e}")))?,
        created_at: s.shipped_at,
        tracking_status: s.tracking_status.clone(),
        delivered_at: s.delivered_at,
    })
}

/// The shipment of `row`.
pub(crate) fn shipment(row: order_shipments::Model) -> Result<Shipment, DbErr> {
    Ok(Shipment {
        line_ids: row.lines()?,
        waybill_no: row.waybill_no,
        company_code: row.company_code,
        shipped_at: row.created_at,
        tracking_status: row.tracking_status,
        delivered_at: row.delivered_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::tests::paid_order;
    use kernel::LineReservationState as Res;

    #[test]
    fn an_order_survives_the_round_trip_through_its_rows() {
        let mut o = paid_order();
        o.lines[0].reservation = Some(Res::Confirmed);
        o.lines[0].reservation_version = 3;
        o.lines[1].shipped_waybill = Some("SF1".into());
        let row = order_row(&o, "{\"snapshot\":true}".into());
        assert_eq!((row.status.as_str(), row.trade_status.as_str()), ("paid", "WAIT_SELLER_SEND_GOODS"));
        let lines: Vec<_> = line_rows(&o).collect();
        assert_eq!(lines[0].reservation_state.as_deref(), Some("confirmed"));
        assert_eq!(order(row, lines).unwrap(), (o, "{\"snapshot\":true}".to_owned()));
    }

    #[test]
    fn a_value_no_cairn_writes_is_an_error_not_a_guess() {
        let o = paid_order();
        let row = orders::Model { status: "lost".into(), ..order_row(&o, String::new()) };
        assert!(order(row, vec![]).is_err());
        let mut lines: Vec<_> = line_rows(&o).collect();
        lines[0].reservation_state = Some("maybe".into());
        assert!(order(order_row(&o, String::new()), lines).is_err());
    }
}
