//! The invoicing domain: amounts, numerals, numbering series and the rules for when an order
//! gets an invoice or a credit note. Pure: no I/O, no clock.

pub mod amounts;
pub mod numerals;

use amounts::{InvoiceLine, RateBp};

/// When invoices are issued automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOn {
    /// As soon as the order is paid.
    Payment,
    /// When the order ships.
    Shipment,
    /// Only through `POST /v1/invoices`.
    Request,
}

impl IssueOn {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueOn::Payment => "payment",
            IssueOn::Shipment => "shipment",
            IssueOn::Request => "request",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<IssueOn> {
        [IssueOn::Payment, IssueOn::Shipment, IssueOn::Request].into_iter().find(|x| x.as_str() == s)
    }
}

/// Invoice or credit note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invoice,
    CreditNote,
}

impl Kind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invoice => "invoice",
            Kind::CreditNote => "credit_note",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Invoice, Kind::CreditNote].into_iter().find(|x| x.as_str() == s)
    }
}

/// Checks a numbering pattern: printable, at most 24 characters, `{YYYY}` at most once, and
/// nothing else in braces.
pub fn valid_pattern(p: &str) -> bool {
    let rest = p.replacen("{YYYY}", "", 1);
    !p.is_empty()
        && p.chars().count() <= 24
        && !rest.contains(['{', '}'])
        && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_/{}".contains(c))
}

/// The series a pattern gives in `year`: `INV{YYYY}-` → `INV2026-`. Numbers restart at 1 in
/// every series, so a pattern with the year restarts every year.
pub fn series(pattern: &str, year: i32) -> String {
    pattern.replace("{YYYY}", &format!("{year:04}"))
}

/// The printed number: the series and the sequence, zero-padded to 8 digits.
pub fn number(series: &str, seq: i64) -> String {
    format!("{series}{seq:08}")
}

/// Whether an order in `status` (the orders service's wire name) should be invoiced now.
///
/// On payment, a paid order is due even when it is cancelled by now: had the events arrived in
/// order it would have been invoiced at payment and credited at cancellation, and the outcome
/// must not depend on delivery order. (It then gets the invoice and a full credit note.)
pub fn due(issue_on: IssueOn, status: &str, paid: bool) -> bool {
    let shipped = matches!(status, "partially_shipped" | "shipped" | "completed");
    match issue_on {
        IssueOn::Request => false,
        IssueOn::Payment => paid,
        IssueOn::Shipment => paid && shipped,
    }
}

/// Whether an order can be invoiced on request: it was paid and not cancelled.
pub fn invoiceable(status: &str, paid: bool) -> bool {
    paid && status != "cancelled" && status != "pending_payment"
}

/// The lines of `invoice` that a credit note must now cover: the lines refunded (or, when
/// the whole order was cancelled after payment, every line) minus those already credited.
/// Each line is credited at most once and in full, so a credit note never exceeds what was
/// invoiced.
pub fn to_credit(
    invoice: &[InvoiceLine],
    refunded: &[String],
    order_cancelled: bool,
    already: &[String],
) -> Vec<InvoiceLine> {
    invoice
        .iter()
        .filter(|l| !already.contains(&l.line_ref))
        .filter(|l| order_cancelled || refunded.contains(&l.line_ref))
        .map(InvoiceLine::negated)
        .collect()
}

/// The idempotency key of a credit note: the invoice and exactly the lines it covers.
pub fn credit_key(invoice_id: &uuid::Uuid, lines: &[InvoiceLine]) -> String {
    let mut refs: Vec<&str> = lines.iter().map(|l| l.line_ref.as_str()).collect();
    refs.sort_unstable();
    format!("credit:{invoice_id}:{}", refs.join(","))
}

/// A rate for a SKU: its tax category if it has one, else the default.
pub fn rate_for(sku: &str, categories: &[(String, RateBp)], default: RateBp) -> RateBp {
    categories.iter().find(|(s, _)| s == sku).map_or(default, |(_, r)| *r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use amounts::SHIPPING;

    fn l(r: &str, net: i64) -> InvoiceLine {
        InvoiceLine {
            line_ref: r.into(),
            sku_code: r.into(),
            title: r.into(),
            quantity: 1,
            gross: net,
            discount: 0,
            net,
            rate_bp: 1300,
            tax: 0,
        }
    }

    #[test]
    fn numbers_and_patterns() {
        assert_eq!(number(&series("INV{YYYY}-", 2026), 1), "INV2026-00000001");
        assert!(valid_pattern("INV{YYYY}-"));
        assert!(valid_pattern("CN/{YYYY}/"));
        assert!(!valid_pattern("{YYYY}{YYYY}"));
        assert!(!valid_pattern("INV{MM}"));
        assert!(!valid_pattern(""));
        assert!(!valid_pattern("发票"));
    }

    #[test]
    fn when_invoices_are_due() {
        assert!(due(IssueOn::Payment, "allocated", true));
        assert!(due(IssueOn::Payment, "backordered", true));
        assert!(!due(IssueOn::Payment, "pending_payment", false));
        assert!(due(IssueOn::Payment, "cancelled", true));
        assert!(!due(IssueOn::Shipment, "allocated", true));
        assert!(due(IssueOn::Shipment, "shipped", true));
        assert!(!due(IssueOn::Request, "shipped", true));
    }

    #[test]
    fn credit_covers_each_line_once() {
        let inv = vec![l("A", 100), l("B", 200), l(SHIPPING, 10)];
        let c = to_credit(&inv, &["B".into()], false, &[]);
        assert_eq!(c.iter().map(|x| (x.line_ref.as_str(), x.net)).collect::<Vec<_>>(), vec![("B", -200)]);
        assert!(to_credit(&inv, &["B".into()], false, &["B".into()]).is_empty());
        let rest = to_credit(&inv, &["B".into()], true, &["B".into()]);
        assert_eq!(rest.iter().map(|x| x.line_ref.as_str()).collect::<Vec<_>>(), vec!["A", SHIPPING]);
        let id = uuid::Uuid::nil();
        assert_eq!(credit_key(&id, &rest), format!("credit:{id}:A,{SHIPPING}"));
    }
}
