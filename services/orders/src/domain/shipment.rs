//! The seller shipping (some of) an order's lines through Cairn: pure rules, no I/O.
//!
//! A shipment is one waybill and the lines it carried. It is idempotent by waybill: the same
//! waybill with the same carrier and lines again is the first shipment, unchanged; the same
//! waybill with anything else is refused.

use super::order::{Order, TimelineEntry, TimelineKind};
use kernel::{OrderStatus, Timestamp, events::OrderShipped};

/// Longest waybill number accepted (carriers use 10-20 characters; a little room for suffixes).
pub const MAX_WAYBILL_LEN: usize = 64;
/// Longest carrier code accepted (`SF`, `YTO`, `POSTB`, ...).
pub const MAX_COMPANY_LEN: usize = 32;
/// Most lines one request may name.
pub const MAX_LINES: usize = 1000;

/// What the seller asked to ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipRequest {
    pub company_code: String,
    pub waybill_no: String,
    /// Marketplace line ids; `None` = every line not yet shipped and not refunded.
    pub lines: Option<Vec<String>>,
}

/// One order line as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFacts {
    pub external_line_id: String,
    pub refunded: bool,
    /// The waybill the line already left with.
    pub shipped_waybill: Option<String>,
}

/// A shipment already recorded for the order under the requested waybill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub company_code: String,
    pub line_ids: Vec<String>,
}

/// A shipment recorded through Cairn: one waybill and the lines it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    pub waybill_no: String,
    /// The carrier's code, e.g. `SF`.
    pub company_code: String,
    /// The marketplace line ids it carried.
    pub line_ids: Vec<String>,
    pub shipped_at: Timestamp,
    /// What the carrier last said of it (`delivered`, `exception`, `returned`), when it was
    /// drawn through Cairn's shipping.
    pub tracking_status: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

impl Shipment {
    /// The shipment as [`decide`] compares a request with it.
    pub fn recorded(&self) -> Recorded {
        Recorded { company_code: self.company_code.clone(), line_ids: self.line_ids.clone() }
    }
}

/// What to do with a valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The same shipment again: answer with the recorded one and change nothing.
    Replay,
    /// Ship these lines; the order's status becomes `status`.
    Ship {
        lines: Vec<String>,
        status: OrderStatus,
        /// The shipment carries every live line and none shipped before: the whole order.
        whole_order: bool,
    },
}

/// Why a shipment was refused. Nothing changes in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipError {
    /// A field is malformed or names a line the order does not have.
    #[error("{0}")]
    Invalid(String),
    /// The order or a line is not in a state that can ship.
    #[error("{0}")]
    NotShippable(String),
    /// The waybill was already used on this order for a different shipment.
    #[error("waybill `{0}` was already recorded on this order with a different carrier or lines")]
    WaybillReused(String),
}

fn code_ok(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks the request's own fields (no order needed).
pub fn validate(req: &ShipRequest) -> Result<(), ShipError> {
    if !code_ok(&req.waybill_no, MAX_WAYBILL_LEN) {
        return Err(ShipError::Invalid(format!(
            "waybill_no must be 1-{MAX_WAYBILL_LEN} characters of letters, digits, '-' or '_'"
        )));
    }
    if !code_ok(&req.company_code, MAX_COMPANY_LEN) {
        return Err(ShipError::Invalid(format!(
            "company_code must be 1-{MAX_COMPANY_LEN} characters of letters, digits, '-' or '_'"
        )));
    }
    if let Some(lines) = &req.lines {
        if lines.is_empty() {
            return Err(ShipError::Invalid(
                "lines must not be empty; leave it out to ship every line not yet shipped".into(),
            ));
        }
        if lines.len() > MAX_LINES {
            return Err(ShipError::Invalid(format!("at most {MAX_LINES} lines per shipment")));
        }
        for (i, l) in lines.iter().enumerate() {
            if lines[..i].contains(l) {
                return Err(ShipError::Invalid(format!("line `{l}` is listed twice")));
            }
        }
    }
    Ok(())
}

/// Statuses from which lines may ship.
fn can_ship(status: OrderStatus) -> Result<(), ShipError> {
    use OrderStatus as O;
    let why = match status {
        O::Paid | O::Allocated | O::Backordered | O::PartiallyShipped => return Ok(()),
        O::PendingPayment => "the order is not paid yet",
        O::OnHold => "the order is on hold",
        O::Shipped => "the order is already shipped",
        O::Completed => "the order is completed",
        O::Cancelled => "the order is cancelled",
    };
    Err(ShipError::NotShippable(why.into()))
}

/// Decides a (validated) request against the order as stored.
pub fn decide(
    status: OrderStatus,
    lines: &[LineFacts],
    recorded: Option<&Recorded>,
    req: &ShipRequest,
) -> Result<Decision, ShipError> {
    let target: Vec<String> = match &req.lines {
        Some(ids) => {
            let unknown: Vec<&str> =
                ids.iter().filter(|id| !lines.iter().any(|l| &l.external_line_id == *id)).map(String::as_str).collect();
            if !unknown.is_empty() {
                return Err(ShipError::Invalid(format!("the order has no line `{}`", unknown.join("`, `"))));
            }
            ids.clone()
        }
        // "Every line not yet shipped": a line this very waybill carried counts as not yet
        // shipped, so that retrying a whole-order request resolves to the same lines.
        None => lines
            .iter()
            .filter(|l| match &l.shipped_waybill {
                Some(w) => *w == req.waybill_no,
                None => !l.refunded,
            })
            .map(|l| l.external_line_id.clone())
            .collect(),
    };
    if let Some(r) = recorded {
        let same_lines = r.line_ids.len() == target.len() && target.iter().all(|t| r.line_ids.contains(t));
        return if r.company_code == req.company_code && same_lines {
            Ok(Decision::Replay)
        } else {
            Err(ShipError::WaybillReused(req.waybill_no.clone()))
        };
    }
    can_ship(status)?;
    if target.is_empty() {
        return Err(ShipError::NotShippable("no line is left to ship: every line is shipped or refunded".into()));
    }
    for id in &target {
        let l = lines.iter().find(|l| &l.external_line_id == id).expect("unknown lines were refused above");
        if let Some(w) = &l.shipped_waybill {
            return Err(ShipError::NotShippable(format!("line `{id}` already shipped with waybill `{w}`")));
        }
        if l.refunded {
            return Err(ShipError::NotShippable(format!("line `{id}` is refunded")));
        }
    }
    let after: Vec<(bool, bool)> = lines
        .iter()
        .map(|l| (l.refunded, l.shipped_waybill.is_some() || target.contains(&l.external_line_id)))
        .collect();
    let status = with_shipments(status, &after);
    let whole_order = status == OrderStatus::Shipped && lines.iter().all(|l| l.shipped_waybill.is_none());
    Ok(Decision::Ship { lines: target, status, whole_order })
}

/// What recording a shipment made: the shipment, the order's timeline entry, and the event
/// that writes it back to the marketplace.
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    pub shipment: Shipment,
    pub timeline: TimelineEntry,
    pub shipped: OrderShipped,
}

/// Carries out a [`Decision::Ship`] (`lines`, `status`, `whole_order`) for `req` on `order`:
/// the lines take the waybill, the order the new status and a new revision.
pub fn record(
    order: &mut Order,
    req: &ShipRequest,
    lines: Vec<String>,
    status: OrderStatus,
    whole_order: bool,
    now: Timestamp,
) -> Made {
    // `revision` is the marketplace's `modified` in µs, and every consumer applies an
    // `order.changed` only when its revision is newer than the one it has. This change is ours,
    // not the marketplace's, so it takes the first revision strictly newer than both the last
    // snapshot and the present: max(revision + 1, now). The price: a marketplace snapshot
    // whose `modified` is older than this shipment, arriving late (a delayed webhook, a
    // reconciliation pull), is from then on stale and ignored whole, including anything new in
    // it (say a refund the buyer got just before the seller shipped). That news is applied
    // with the trade's next, newer snapshot (the marketplace modifies the trade again when the
    // shipment is written back), which carries the whole trade. Clock skew between the
    // marketplace and us widens that window by the skew.
    let revision = (order.revision + 1).max(now.timestamp_micros());
    let mut described = Vec::new();
    for l in order.lines.iter_mut().filter(|l| lines.contains(&l.external_line_id)) {
        l.shipped_waybill = Some(req.waybill_no.clone());
        described.push(format!(
            "{} {} ×{}",
            l.external_line_id,
            l.sku_code.as_deref().unwrap_or("(unmapped)"),
            l.quantity
        ));
    }
    let detail = format!(
        "Shipped {} with {} {}: {} → {}",
        described.join(", "),
        req.company_code,
        req.waybill_no,
        order.status.as_str(),
        status.as_str()
    );
    order.status = status;
    order.revision = revision;
    order.updated_at = now;
    let shipped = OrderShipped {
        order_id: order.id,
        channel_id: order.channel_id,
        external_id: order.external_id.clone(),
        company_code: req.company_code.clone(),
        waybill_no: req.waybill_no.clone(),
        external_line_ids: (!whole_order).then(|| lines.clone()),
        shipped_at: now,
    };
    Made {
        shipment: Shipment {
            waybill_no: req.waybill_no.clone(),
            company_code: req.company_code.clone(),
            line_ids: lines,
            shipped_at: now,
            tracking_status: None,
            delivered_at: None,
        },
        timeline: TimelineEntry { at: now, kind: TimelineKind::Shipment, detail },
        shipped,
    }
}

/// The status of an order whose lines (`(refunded, shipped)`) were shipped through Cairn:
/// `shipped` once every live line is, `partially_shipped` while some are. A marketplace status
/// that is already further along (shipped, completed, cancelled), or a hold, is kept; so is an
/// order none of whose lines shipped here.
pub fn with_shipments(status: OrderStatus, lines: &[(bool, bool)]) -> OrderStatus {
    use OrderStatus as O;
    if !matches!(status, O::Paid | O::Allocated | O::Backordered | O::PartiallyShipped)
        || !lines.iter().any(|(_, shipped)| *shipped)
    {
        return status;
    }
    let mut live = lines.iter().filter(|(refunded, _)| !refunded).peekable();
    if live.peek().is_some() && live.all(|(_, shipped)| *shipped) { O::Shipped } else { O::PartiallyShipped }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus as O;

    fn req(waybill: &str, lines: Option<&[&str]>) -> ShipRequest {
        ShipRequest {
            company_code: "SF".into(),
            waybill_no: waybill.into(),
            lines: lines.map(|l| l.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    fn line(id: &str, refunded: bool, shipped: Option<&str>) -> LineFacts {
        LineFacts { external_line_id: id.into(), refunded, shipped_waybill: shipped.map(Into::into) }
    }

    #[test]
    fn bad_fields_are_invalid() {
        for r in [
            req("", None),
            req(&"9".repeat(MAX_WAYBILL_LEN + 1), None),
            req("SF 123", None),
            req("SF1", Some(&[])),
            req("SF1", Some(&["L1", "L1"])),
            ShipRequest { company_code: String::new(), ..req("SF1", None) },
            ShipRequest { company_code: "X".repeat(MAX_COMPANY_LEN + 1), ..req("SF1", None) },
        ] {
            assert!(matches!(validate(&r), Err(ShipError::Invalid(_))), "{r:?}");
        }
        assert_eq!(validate(&req("JD0001-1-1", Some(&["L1"]))), Ok(()));
    }

    #[test]
    fn shipping_one_of_two_lines_is_partial_and_the_rest_completes_it() {
        let lines = [line("L1", false, None), line("L2", false, None)];
        assert_eq!(
            decide(O::Allocated, &lines, None, &req("W1", Some(&["L1"]))),
            Ok(Decision::Ship { lines: vec!["L1".into()], status: O::PartiallyShipped, whole_order: false })
        );
        let lines = [line("L1", false, Some("W1")), line("L2", false, None)];
        assert_eq!(
            decide(O::PartiallyShipped, &lines, None, &req("W2", None)),
            Ok(Decision::Ship { lines: vec!["L2".into()], status: O::Shipped, whole_order: false })
        );
    }

    #[test]
    fn everything_at_once_is_the_whole_order_and_skips_refunded_lines() {
        let lines = [line("L1", false, None), line("L2", true, None), line("L3", false, None)];
        assert_eq!(
            decide(O::Paid, &lines, None, &req("W1", None)),
            Ok(Decision::Ship { lines: vec!["L1".into(), "L3".into()], status: O::Shipped, whole_order: true })
        );
    }

    #[test]
    fn the_same_waybill_again_is_a_replay_and_anything_else_under_it_is_refused() {
        let lines = [line("L1", false, Some("W1")), line("L2", false, Some("W1"))];
        let rec = Recorded { company_code: "SF".into(), line_ids: vec!["L1".into(), "L2".into()] };
        assert_eq!(decide(O::Shipped, &lines, Some(&rec), &req("W1", None)), Ok(Decision::Replay));
        assert_eq!(decide(O::Shipped, &lines, Some(&rec), &req("W1", Some(&["L2", "L1"]))), Ok(Decision::Replay));
        // Even once the marketplace has moved the order on.
        assert_eq!(decide(O::Completed, &lines, Some(&rec), &req("W1", None)), Ok(Decision::Replay));
        assert_eq!(
            decide(O::Shipped, &lines, Some(&rec), &req("W1", Some(&["L1"]))),
            Err(ShipError::WaybillReused("W1".into()))
        );
        let other_carrier = ShipRequest { company_code: "YTO".into(), ..req("W1", None) };
        assert_eq!(decide(O::Shipped, &lines, Some(&rec), &other_carrier), Err(ShipError::WaybillReused("W1".into())));
        // A retried whole-order request still matches after a line was refunded post-shipment.
        let lines = [line("L1", false, Some("W1")), line("L2", true, Some("W1"))];
        assert_eq!(decide(O::Shipped, &lines, Some(&rec), &req("W1", None)), Ok(Decision::Replay));
    }

    #[test]
    fn orders_and_lines_that_cannot_ship_are_refused() {
        let lines = [line("L1", false, None), line("L2", true, None), line("L3", false, Some("W0"))];
        for s in [O::PendingPayment, O::OnHold, O::Shipped, O::Completed, O::Cancelled] {
            assert!(
                matches!(decide(s, &lines, None, &req("W1", Some(&["L1"]))), Err(ShipError::NotShippable(_))),
                "{s:?}"
            );
        }
        assert!(
            matches!(decide(O::Paid, &lines, None, &req("W1", Some(&["L2"]))), Err(ShipError::NotShippable(m)) if m.contains("refunded"))
        );
        assert!(
            matches!(decide(O::Paid, &lines, None, &req("W1", Some(&["L1", "L3"]))), Err(ShipError::NotShippable(m)) if m.contains("W0"))
        );
        assert!(
            matches!(decide(O::Paid, &lines, None, &req("W1", Some(&["L1", "L9"]))), Err(ShipError::Invalid(m)) if m.contains("L9"))
        );
        let done = [line("L1", false, Some("W0")), line("L2", true, None)];
        assert!(matches!(decide(O::PartiallyShipped, &done, None, &req("W1", None)), Err(ShipError::NotShippable(_))));
    }

    #[test]
    fn local_shipments_survive_a_marketplace_status_that_lags_behind() {
        assert_eq!(with_shipments(O::Allocated, &[(false, true), (false, false)]), O::PartiallyShipped);
        assert_eq!(with_shipments(O::Paid, &[(false, true), (true, false)]), O::Shipped);
        assert_eq!(with_shipments(O::PartiallyShipped, &[(false, true)]), O::Shipped);
        assert_eq!(with_shipments(O::Allocated, &[(false, false)]), O::Allocated);
        assert_eq!(
            with_shipments(O::PartiallyShipped, &[(false, false)]),
            O::PartiallyShipped,
            "the marketplace's own partial shipment"
        );
        assert_eq!(with_shipments(O::Cancelled, &[(false, true)]), O::Cancelled);
        assert_eq!(with_shipments(O::Completed, &[(false, true)]), O::Completed);
    }

    #[test]
    fn recording_a_shipment_marks_the_lines_and_moves_the_order_on() {
        use crate::domain::order::tests::{CHANNEL, ORDER, at, paid_order};
        let mut order = paid_order();
        order.status = O::Allocated;
        let before = order.revision;
        let r = req("SF100", Some(&["O2"]));
        let Ok(Decision::Ship { lines, status, whole_order }) = decide(order.status, &order.line_facts(), None, &r)
        else {
            panic!("ships")
        };
        let made = record(&mut order, &r, lines, status, whole_order, at(100));
        assert_eq!(order.status, O::PartiallyShipped);
        assert_eq!(order.revision, at(100).timestamp_micros(), "the present is newer than the last snapshot");
        assert!(order.revision > before);
        assert_eq!(order.updated_at, at(100));
        assert_eq!(order.lines[0].shipped_waybill, None);
        assert_eq!(order.lines[1].shipped_waybill.as_deref(), Some("SF100"));
        assert_eq!(
            made.shipment,
            Shipment {
                waybill_no: "SF100".into(),
                company_code: "SF".into(),
                line_ids: vec!["O2".into()],
                shipped_at: at(100),
                tracking_status: None,
                delivered_at: None,
            }
        );
        assert_eq!(
            made.timeline,
            TimelineEntry {
                at: at(100),
                kind: TimelineKind::Shipment,
                detail: "Shipped O2 CAP-1 ×1 with SF SF100: allocated → partially_shipped".into()
            }
        );
        assert_eq!(
            made.shipped,
            OrderShipped {
                order_id: ORDER,
                channel_id: CHANNEL,
                external_id: "T1".into(),
                company_code: "SF".into(),
                waybill_no: "SF100".into(),
                external_line_ids: Some(vec!["O2".into()]),
                shipped_at: at(100),
            }
        );
        assert_eq!(made.shipment.recorded(), Recorded { company_code: "SF".into(), line_ids: vec!["O2".into()] });
    }

    #[test]
    fn a_whole_order_shipment_names_no_lines_and_its_revision_stays_monotonic() {
        use crate::domain::order::tests::{at, paid_order};
        let mut order = paid_order();
        // A marketplace clock ahead of ours: the revision still moves forward.
        order.revision = at(500).timestamp_micros();
        let r = req("SF200", None);
        let Ok(Decision::Ship { lines, status, whole_order }) = decide(order.status, &order.line_facts(), None, &r)
        else {
            panic!("ships")
        };
        let made = record(&mut order, &r, lines, status, whole_order, at(100));
        assert_eq!(order.revision, at(500).timestamp_micros() + 1);
        assert_eq!(order.status, O::Shipped);
        assert_eq!(made.shipped.external_line_ids, None);
        assert_eq!(made.shipment.line_ids, ["O1", "O2"]);
        assert_eq!(made.timeline.detail, "Shipped O1 TEE-RED-M ×2, O2 CAP-1 ×1 with SF SF200: paid → shipped");
    }
}
