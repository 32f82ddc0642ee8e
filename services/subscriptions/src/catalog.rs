//! The events an app or a seller can subscribe to, and the bus events they come from.
//!
//! Public names are a contract; the bus's internal names may change behind them. Each
//! delivery's body follows the Standard Webhooks shape:
//! `{"type": "order.paid", "timestamp": "<RFC 3339>", "event_id": "<uuid>", "tenant_id": "<uuid>",
//! "data": {…}}`, where `data` is the event's payload (its fields are documented with the
//! bus events in the `kernel` crate).

use kernel::Envelope;
use poem_openapi::Enum;

/// A public event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
#[oai(rename = "SubscriptionEventType")]
pub enum EventType {
    /// An order is paid (sent with each change of a paid order that is still `paid`).
    #[oai(rename = "order.paid")]
    OrderPaid,
    /// Any change of an order (status, lines, address…).
    #[oai(rename = "order.changed")]
    OrderChanged,
    /// An order left the warehouse (wholly or partly).
    #[oai(rename = "order.shipped")]
    OrderShipped,
    /// A hold was put on an order or released.
    #[oai(rename = "order.hold_changed")]
    OrderHoldChanged,
    /// An order's stock is reserved and nothing holds it: it can ship.
    #[oai(rename = "order.ready_to_ship")]
    OrderReadyToShip,
    /// A SKU's stock level changed.
    #[oai(rename = "stock.level_changed")]
    StockLevelChanged,
    /// Returned goods were received back into stock.
    #[oai(rename = "stock.returned")]
    StockReturned,
    /// A parcel was handed to the carrier.
    #[oai(rename = "shipment.shipped")]
    ShipmentShipped,
    /// The carrier reported on a parcel (in transit, delivered, returned…).
    #[oai(rename = "shipment.tracked")]
    ShipmentTracked,
    /// An invoice or a credit note was issued.
    #[oai(rename = "invoice.issued")]
    InvoiceIssued,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::OrderPaid,
        EventType::OrderChanged,
        EventType::OrderShipped,
        EventType::OrderHoldChanged,
        EventType::OrderReadyToShip,
        EventType::StockLevelChanged,
        EventType::StockReturned,
        EventType::ShipmentShipped,
        EventType::ShipmentTracked,
        EventType::InvoiceIssued,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderPaid => "order.paid",
            EventType::OrderChanged => "order.changed",
            EventType::OrderShipped => "order.shipped",
            EventType::OrderHoldChanged => "order.hold_changed",
            EventType::OrderReadyToShip => "order.ready_to_ship",
            EventType::StockLevelChanged => "stock.level_changed",
            EventType::StockReturned => "stock.returned",
            EventType::ShipmentShipped => "shipment.shipped",
            EventType::ShipmentTracked => "shipment.tracked",
            EventType::InvoiceIssued => "invoice.issued",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The public types a bus event is (none for a bus event nobody can subscribe to).
    pub fn of(env: &Envelope) -> Vec<EventType> {
        match env.kind.as_str() {
            "order.changed" => {
                let mut out = vec![EventType::OrderChanged];
                if env.payload_str("status").as_deref() == Some("paid") {
                    out.push(EventType::OrderPaid);
                }
                out
            }
            other => EventType::ALL.into_iter().filter(|t| t.as_str() == other).collect(),
        }
    }
}

/// The bus topics the consumer binds: every internal event some public type comes from.
pub const TOPICS: &[&str] = &[
    "order.changed",
    "order.shipped",
    "order.hold_changed",
    "order.ready_to_ship",
    "stock.level_changed",
    "stock.returned",
    "shipment.shipped",
    "shipment.tracked",
    "invoice.issued",
];

/// The delivery body of `env` as `ty`.
pub fn body(env: &Envelope, ty: EventType) -> String {
    serde_json::json!({
        "type": ty.as_str(),
        "timestamp": env.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "event_id": env.id,
        "tenant_id": env.tenant_id.0,
        "data": env.payload,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_public_type_comes_from_a_bound_topic() {
        for t in EventType::ALL {
            let internal = if t == EventType::OrderPaid { "order.changed" } else { t.as_str() };
            assert!(TOPICS.contains(&internal), "{t:?}");
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
    }
}
