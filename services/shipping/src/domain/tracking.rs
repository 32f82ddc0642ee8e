//! Tracking: the carrier's statuses (COURIER.md) and what they make of a shipment.

use super::{Shipment, Status};
use kernel::Timestamp;
use serde::{Deserialize, Serialize};

/// Courier's tracking statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TrackStatus {
    Collected,
    InTransit,
    Delivering,
    Delivered,
    Exception,
    Returning,
    Returned,
}

impl TrackStatus {
    /// The wire name (COURIER.md).
    pub fn as_str(self) -> &'static str {
        match self {
            TrackStatus::Collected => "COLLECTED",
            TrackStatus::InTransit => "IN_TRANSIT",
            TrackStatus::Delivering => "DELIVERING",
            TrackStatus::Delivered => "DELIVERED",
            TrackStatus::Exception => "EXCEPTION",
            TrackStatus::Returning => "RETURNING",
            TrackStatus::Returned => "RETURNED",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<TrackStatus> {
        [
            TrackStatus::Collected,
            TrackStatus::InTransit,
            TrackStatus::Delivering,
            TrackStatus::Delivered,
            TrackStatus::Exception,
            TrackStatus::Returning,
            TrackStatus::Returned,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Ends the parcel's journey: nothing after it changes the shipment.
    pub fn is_final(self) -> bool {
        matches!(self, TrackStatus::Delivered | TrackStatus::Returned)
    }
}

/// What a tracking event did to a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// Older than what the shipment has (or after its final status): nothing changed.
    Stale,
    /// Recorded; the shipment's status may have moved.
    Moved { from: Status, to: Status },
    /// The parcel is back: its units go back in stock (once: only this transition says so).
    Returned,
}

/// Applies a tracking event (newer wins, by the carrier's event time). Only a shipment that
/// left the warehouse moves with it; an earlier one just records the carrier's status.
pub fn apply(s: &mut Shipment, status: TrackStatus, at: Timestamp) -> Tracked {
    if let Some((prev, prev_at)) = s.tracking
        && (at <= prev_at || prev.is_final())
    {
        return Tracked::Stale;
    }
    s.tracking = Some((status, at));
    let from = s.status;
    if !s.status.has_left() || s.status == Status::Returned {
        return Tracked::Moved { from, to: from };
    }
    let to = match status {
        TrackStatus::Collected | TrackStatus::InTransit | TrackStatus::Delivering => Status::InTransit,
        TrackStatus::Delivered => Status::Delivered,
        TrackStatus::Exception | TrackStatus::Returning => Status::Exception,
        TrackStatus::Returned => Status::Returned,
    };
    s.status = to;
    if to == Status::Delivered {
        s.delivered_at = Some(at);
    }
    if to == Status::Returned { Tracked::Returned } else { Tracked::Moved { from, to } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn shipped() -> Shipment {
        let t = chrono::Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        Shipment {
            id: uuid::Uuid::now_v7(),
            warehouse_code: "MAIN".into(),
            merge_key: String::new(),
            status: Status::Shipped,
            orders: vec![],
            lines: vec![],
            receiver: Default::default(),
            opened_at: t,
            waybill: None,
            parcels: 1,
            weight_grams: 0,
            problem: None,
            print_count: 0,
            tracking: None,
            shipped_at: Some(t),
            delivered_at: None,
            created_at: t,
            updated_at: t,
        }
    }

    fn at(s: i64) -> Timestamp {
        chrono::Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn out_of_order_and_duplicate_events_end_in_the_latest_status() {
        let mut s = shipped();
        assert_eq!(
            apply(&mut s, TrackStatus::InTransit, at(20)),
            Tracked::Moved { from: Status::Shipped, to: Status::InTransit }
        );
        assert_eq!(apply(&mut s, TrackStatus::Collected, at(10)), Tracked::Stale);
        assert_eq!(apply(&mut s, TrackStatus::InTransit, at(20)), Tracked::Stale);
        apply(&mut s, TrackStatus::Delivered, at(40));
        assert_eq!(apply(&mut s, TrackStatus::Delivering, at(30)), Tracked::Stale);
        assert_eq!((s.status, s.delivered_at), (Status::Delivered, Some(at(40))));
    }

    #[test]
    fn a_return_is_reported_once() {
        let mut s = shipped();
        apply(&mut s, TrackStatus::Exception, at(5));
        assert_eq!(s.status, Status::Exception);
        assert_eq!(apply(&mut s, TrackStatus::Returned, at(9)), Tracked::Returned);
        assert_eq!(apply(&mut s, TrackStatus::Returned, at(9)), Tracked::Stale);
        assert_eq!(apply(&mut s, TrackStatus::Returned, at(19)), Tracked::Stale);
        assert_eq!(s.status, Status::Returned);
    }

    #[test]
    fn before_it_leaves_a_shipment_only_records_the_carrier_status() {
        let mut s = shipped();
        s.status = Status::Printed;
        assert_eq!(
            apply(&mut s, TrackStatus::Collected, at(1)),
            Tracked::Moved { from: Status::Printed, to: Status::Printed }
        );
        assert_eq!(s.tracking, Some((TrackStatus::Collected, at(1))));
    }
}
