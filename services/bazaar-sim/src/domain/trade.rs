//! A Bazaar trade, its state machine and its BAZAAR.md snapshot.
//!
//! Every change goes through `Trade::touch`, which moves `modified` strictly forward (at least
//! one millisecond past the previous value, even when the clock has not moved), and produces one
//! [`Change`]: the topic to push and the full snapshot after the change.

use super::SimError;
use super::money::{self, Fen};
use chrono::{FixedOffset, TimeZone};
use serde::{Deserialize, Serialize};

/// A trade's status, in the industry's names (BAZAAR.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeStatus {
    WaitBuyerPay,
    WaitSellerSendGoods,
    SellerConsignedPart,
    WaitBuyerConfirmGoods,
    TradeFinished,
    TradeClosed,
    TradeClosedByMarket,
}

impl TradeStatus {
    /// No further change is possible.
    pub fn is_final(self) -> bool {
        matches!(self, TradeStatus::TradeFinished | TradeStatus::TradeClosed | TradeStatus::TradeClosedByMarket)
    }

    /// The status as written on the wire, e.g. `WAIT_BUYER_PAY`.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::WaitBuyerPay => "WAIT_BUYER_PAY",
            TradeStatus::WaitSellerSendGoods => "WAIT_SELLER_SEND_GOODS",
            TradeStatus::SellerConsignedPart => "SELLER_CONSIGNED_PART",
            TradeStatus::WaitBuyerConfirmGoods => "WAIT_BUYER_CONFIRM_GOODS",
            TradeStatus::TradeFinished => "TRADE_FINISHED",
            TradeStatus::TradeClosed => "TRADE_CLOSED",
            TradeStatus::TradeClosedByMarket => "TRADE_CLOSED_BY_MARKET",
        }
    }
}

/// A line's refund status (BAZAAR.md). Refunds go from `WAIT_SELLER_AGREE` to `SUCCESS` or
/// `CLOSED`; a return of shipped goods passes `WAIT_BUYER_RETURN_GOODS` on the way (pushed as
/// `refund.RefundCreated`, since BAZAAR.md has no topic for the return step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    NoRefund,
    WaitSellerAgree,
    WaitBuyerReturnGoods,
    Success,
    Closed,
}

/// A webhook topic (BAZAAR.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Topic {
    #[serde(rename = "trade.TradeCreate")]
    TradeCreate,
    #[serde(rename = "trade.TradeBuyerPay")]
    TradeBuyerPay,
    #[serde(rename = "trade.TradeSellerShip")]
    TradeSellerShip,
    #[serde(rename = "trade.TradePartlySellerShip")]
    TradePartlySellerShip,
    #[serde(rename = "trade.TradeSuccess")]
    TradeSuccess,
    #[serde(rename = "trade.TradeClose")]
    TradeClose,
    #[serde(rename = "trade.TradeChanged")]
    TradeChanged,
    #[serde(rename = "refund.RefundCreated")]
    RefundCreated,
    #[serde(rename = "refund.RefundSuccess")]
    RefundSuccess,
    #[serde(rename = "refund.RefundClosed")]
    RefundClosed,
}

impl Topic {
    /// The topic as written in `X-Bazaar-Topic`, e.g. `trade.TradeBuyerPay`.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::TradeCreate => "trade.TradeCreate",
            Topic::TradeBuyerPay => "trade.TradeBuyerPay",
            Topic::TradeSellerShip => "trade.TradeSellerShip",
            Topic::TradePartlySellerShip => "trade.TradePartlySellerShip",
            Topic::TradeSuccess => "trade.TradeSuccess",
            Topic::TradeClose => "trade.TradeClose",
            Topic::TradeChanged => "trade.TradeChanged",
            Topic::RefundCreated => "refund.RefundCreated",
            Topic::RefundSuccess => "refund.RefundSuccess",
            Topic::RefundClosed => "refund.RefundClosed",
        }
    }
}

/// Where the goods go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receiver {
    pub name: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub address: String,
    pub zip: String,
}

/// A personal or a company invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Personal,
    Company,
}

/// The buyer's invoice request (BAZAAR.md `invoice_request`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRequest {
    pub kind: InvoiceKind,
    /// A company's registered name, or a person's name.
    pub title: String,
    /// The company's unified social credit code; `null` for a person.
    pub tax_id: Option<String>,
    pub email: Option<String>,
}

/// The waybill a line went out with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub company_code: String,
    pub waybill_no: String,
}

/// One trade line, as the simulator keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub oid: String,
    /// The marketplace's item and variant ids (BAZAAR.md `num_iid`, `sku_id`).
    #[serde(default)]
    pub num_iid: String,
    #[serde(default)]
    pub sku_id: String,
    /// The SKU code the simulator knows the variant by (its own key, always there).
    #[serde(alias = "outer_sku_id")]
    pub code: String,
    /// The seller set `code` as the variant's merchant code; otherwise the line's
    /// `outer_sku_id` is null.
    #[serde(default = "yes")]
    pub merchant_code: bool,
    /// The variant's properties, e.g. `颜色:红色;尺码:M`.
    #[serde(default)]
    pub properties: Option<String>,
    pub title: String,
    pub num: i64,
    pub price: Fen,
    /// price × num minus this line's share of the trade discount.
    pub payment: Fen,
    pub refund_status: RefundStatus,
    pub shipment: Option<Shipment>,
}

/// A trade, as the simulator keeps it (amounts in fen, times in Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub tid: String,
    pub shop_id: String,
    pub status: TradeStatus,
    pub created: i64,
    pub pay_time: Option<i64>,
    pub modified: i64,
    pub buyer_nick: String,
    pub buyer_memo: Option<String>,
    /// The seller's note (卖家备注) and coloured flag (0 = none, 1–5).
    #[serde(default)]
    pub seller_memo: Option<String>,
    #[serde(default)]
    pub seller_flag: i32,
    pub receiver: Receiver,
    pub post_fee: Fen,
    pub discount_fee: Fen,
    pub invoice_request: Option<InvoiceRequest>,
    pub lines: Vec<Line>,
}

fn yes() -> bool {
    true
}

/// A line of a trade about to be created.
#[derive(Debug, Clone)]
pub struct LineDraft {
    pub oid: String,
    pub num_iid: String,
    pub sku_id: String,
    pub code: String,
    pub merchant_code: bool,
    pub properties: Option<String>,
    pub title: String,
    pub num: i64,
    pub price: Fen,
}

/// Everything needed to create a trade.
#[derive(Debug, Clone)]
pub struct TradeDraft {
    pub tid: String,
    pub shop_id: String,
    pub buyer_nick: String,
    pub buyer_memo: Option<String>,
    pub receiver: Receiver,
    pub post_fee: Fen,
    pub discount_fee: Fen,
    pub invoice_request: Option<InvoiceRequest>,
    pub lines: Vec<LineDraft>,
}

/// One change of a trade: the topic to push and the whole trade after it.
#[derive(Debug, Clone)]
pub struct Change {
    pub topic: Topic,
    pub snapshot: TradeSnapshot,
}

/// The result of a ship call.
#[derive(Debug, Clone)]
pub enum ShipOutcome {
    /// Lines were shipped; the change to push.
    Shipped(Box<Change>),
    /// Every targeted line already carries this waybill: nothing changed.
    Repeat,
}

/// A trade exactly as BAZAAR.md writes it (the `trade` of a webhook body and of the Open API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeSnapshot {
    pub tid: String,
    pub status: TradeStatus,
    pub created: String,
    pub pay_time: Option<String>,
    pub modified: String,
    pub buyer_nick: String,
    pub buyer_memo: Option<String>,
    pub seller_memo: Option<String>,
    pub seller_flag: i32,
    pub receiver: Receiver,
    pub currency: String,
    pub payment: String,
    pub post_fee: String,
    pub discount_fee: String,
    pub invoice_request: Option<InvoiceRequest>,
    pub orders: Vec<OrderSnapshot>,
}

/// A trade line exactly as BAZAAR.md writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSnapshot {
    pub oid: String,
    pub num_iid: String,
    pub sku_id: String,
    /// The seller's merchant code; null when the seller set none on the variant.
    pub outer_sku_id: Option<String>,
    pub title: String,
    pub sku_properties: Option<String>,
    pub num: i64,
    pub price: String,
    pub payment: String,
    pub refund_status: RefundStatus,
}

/// Unix milliseconds → `2026-11-11T00:00:03.005+08:00`, the marketplace's China time.
pub fn format_time(ms: i64) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset");
    cst.timestamp_millis_opt(ms).single().map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()).unwrap_or_default()
}

impl Trade {
    /// A new trade waiting for payment, and its `trade.TradeCreate` change.
    pub fn create(draft: TradeDraft, now: i64) -> Result<(Trade, Change), SimError> {
        if draft.lines.is_empty() {
            return Err(SimError::InvalidParameter("a trade needs at least one line".into()));
        }
        if let Some(l) = draft.lines.iter().find(|l| l.num < 1 || l.price < 0) {
            return Err(SimError::InvalidParameter(format!("line `{}`: num must be ≥ 1 and price ≥ 0", l.code)));
        }
        if draft.post_fee < 0 || draft.discount_fee < 0 {
            return Err(SimError::InvalidParameter("post_fee and discount_fee must not be negative".into()));
        }
        let totals: Vec<Fen> = draft.lines.iter().map(|l| l.price * l.num).collect();
        if draft.discount_fee > totals.iter().sum::<Fen>() {
            return Err(SimError::InvalidParameter("discount_fee exceeds the goods total".into()));
        }
        let shares = money::split_proportionally(draft.discount_fee, &totals);
        let lines = draft
            .lines
            .into_iter()
            .zip(totals.iter().zip(shares))
            .map(|(l, (&total, share))| Line {
                oid: l.oid,
                num_iid: l.num_iid,
                sku_id: l.sku_id,
                code: l.code,
                merchant_code: l.merchant_code,
                properties: l.properties,
                title: l.title,
                num: l.num,
                price: l.price,
                payment: total - share,
                refund_status: RefundStatus::NoRefund,
                shipment: None,
            })
            .collect();
        let trade = Trade {
            tid: draft.tid,
            shop_id: draft.shop_id,
            status: TradeStatus::WaitBuyerPay,
            created: now,
            pay_time: None,
            modified: now,
            buyer_nick: draft.buyer_nick,
            buyer_memo: draft.buyer_memo,
            seller_memo: None,
            seller_flag: 0,
            receiver: draft.receiver,
            post_fee: draft.post_fee,
            discount_fee: draft.discount_fee,
            invoice_request: draft.invoice_request,
            lines,
        };
        let change = trade.change(Topic::TradeCreate);
        Ok((trade, change))
    }

    /// Σ price × num − discount_fee + post_fee.
    pub fn payment(&self) -> Fen {
        self.lines.iter().map(|l| l.payment).sum::<Fen>() + self.post_fee
    }

    /// The BAZAAR.md snapshot of the trade as it is now.
    pub fn snapshot(&self) -> TradeSnapshot {
        TradeSnapshot {
            tid: self.tid.clone(),
            status: self.status,
            created: format_time(self.created),
            pay_time: self.pay_time.map(format_time),
            modified: format_time(self.modified),
            buyer_nick: self.buyer_nick.clone(),
            buyer_memo: self.buyer_memo.clone(),
            seller_memo: self.seller_memo.clone(),
            seller_flag: self.seller_flag,
            receiver: self.receiver.clone(),
            currency: "CNY".into(),
            payment: money::format(self.payment()),
            post_fee: money::format(self.post_fee),
            discount_fee: money::format(self.discount_fee),
            invoice_request: self.invoice_request.clone(),
            orders: self
                .lines
                .iter()
                .map(|l| OrderSnapshot {
                    oid: l.oid.clone(),
                    num_iid: l.num_iid.clone(),
                    sku_id: l.sku_id.clone(),
                    outer_sku_id: l.merchant_code.then(|| l.code.clone()),
                    title: l.title.clone(),
                    sku_properties: l.properties.clone(),
                    num: l.num,
                    price: money::format(l.price),
                    payment: money::format(l.payment),
                    refund_status: l.refund_status,
                })
                .collect(),
        }
    }

    fn change(&self, topic: Topic) -> Change {
        Change { topic, snapshot: self.snapshot() }
    }

    /// Moves `modified` to `now`, or one millisecond past its last value when the clock has not
    /// moved on (or went back): snapshots of one trade are strictly ordered by `modified`.
    fn touch(&mut self, now: i64) {
        self.modified = now.max(self.modified + 1);
    }

    fn refuse(&self, what: &str) -> SimError {
        SimError::InvalidStatus(format!("cannot {what} trade `{}` in status {}", self.tid, self.status.as_str()))
    }

    /// The buyer pays: `WAIT_BUYER_PAY` → `WAIT_SELLER_SEND_GOODS`.
    pub fn pay(&mut self, now: i64) -> Result<Change, SimError> {
        if self.status != TradeStatus::WaitBuyerPay {
            return Err(self.refuse("pay"));
        }
        self.touch(now);
        self.pay_time = Some(self.modified);
        self.status = TradeStatus::WaitSellerSendGoods;
        Ok(self.change(Topic::TradeBuyerPay))
    }

    /// The market closes an unpaid trade (payment timed out or the buyer cancelled):
    /// `WAIT_BUYER_PAY` → `TRADE_CLOSED_BY_MARKET`.
    pub fn close_unpaid(&mut self, now: i64) -> Result<Change, SimError> {
        if self.status != TradeStatus::WaitBuyerPay {
            return Err(self.refuse("close as unpaid"));
        }
        self.touch(now);
        self.status = TradeStatus::TradeClosedByMarket;
        Ok(self.change(Topic::TradeClose))
    }

    /// The buyer changes the address and/or the memo before the goods left.
    pub fn change_address(
        &mut self,
        receiver: Option<Receiver>,
        memo: Option<String>,
        now: i64,
    ) -> Result<Change, SimError> {
        if !matches!(
            self.status,
            TradeStatus::WaitBuyerPay | TradeStatus::WaitSellerSendGoods | TradeStatus::SellerConsignedPart
        ) {
            return Err(self.refuse("change the address of"));
        }
        self.touch(now);
        if let Some(r) = receiver {
            self.receiver = r;
        }
        if let Some(m) = memo {
            self.buyer_memo = Some(m).filter(|m| !m.is_empty());
        }
        Ok(self.change(Topic::TradeChanged))
    }

    /// The seller writes a note on the trade and/or sets its flag from the marketplace
    /// console (`trade.TradeChanged`); any status, as consoles allow. An empty memo clears it.
    pub fn set_seller_memo(&mut self, memo: Option<String>, flag: Option<i32>, now: i64) -> Result<Change, SimError> {
        if let Some(f) = flag.filter(|f| !(0..=5).contains(f)) {
            return Err(SimError::InvalidParameter(format!("seller_flag must be between 0 and 5, not {f}")));
        }
        if memo.is_none() && flag.is_none() {
            return Err(SimError::InvalidParameter("give a seller_memo, a seller_flag or both".into()));
        }
        self.touch(now);
        if let Some(m) = memo {
            self.seller_memo = Some(m).filter(|m| !m.is_empty());
        }
        if let Some(f) = flag {
            self.seller_flag = f;
        }
        Ok(self.change(Topic::TradeChanged))
    }

    fn lines_by_oid(&self, oids: &[String]) -> Result<Vec<usize>, SimError> {
        oids.iter()
            .map(|oid| {
                self.lines
                    .iter()
                    .position(|l| &l.oid == oid)
                    .ok_or_else(|| SimError::InvalidParameter(format!("trade `{}` has no line `{oid}`", self.tid)))
            })
            .collect()
    }

    /// The buyer asks for a refund of some lines (all refundable lines when `oids` is `None`):
    /// their `refund_status` becomes `WAIT_SELLER_AGREE`.
    pub fn request_refund(&mut self, oids: Option<&[String]>, now: i64) -> Result<Change, SimError> {
        if !matches!(
            self.status,
            TradeStatus::WaitSellerSendGoods | TradeStatus::SellerConsignedPart | TradeStatus::WaitBuyerConfirmGoods
        ) {
            return Err(self.refuse("refund"));
        }
        let refundable = |l: &Line| matches!(l.refund_status, RefundStatus::NoRefund | RefundStatus::Closed);
        let targets = match oids {
            Some(oids) => {
                let idx = self.lines_by_oid(oids)?;
                if let Some(&i) = idx.iter().find(|&&i| !refundable(&self.lines[i])) {
                    return Err(SimError::InvalidStatus(format!("line `{}` already has a refund", self.lines[i].oid)));
                }
                idx
            }
            None => (0..self.lines.len()).filter(|&i| refundable(&self.lines[i])).collect(),
        };
        if targets.is_empty() {
            return Err(SimError::InvalidStatus(format!("trade `{}` has no line left to refund", self.tid)));
        }
        self.touch(now);
        for i in targets {
            self.lines[i].refund_status = RefundStatus::WaitSellerAgree;
        }
        Ok(self.change(Topic::RefundCreated))
    }

    /// The seller agrees to take shipped lines back (all lines waiting for the seller when
    /// `oids` is `None`): they wait for the buyer's parcel, `WAIT_BUYER_RETURN_GOODS`.
    pub fn await_return(&mut self, oids: Option<&[String]>, now: i64) -> Result<Change, SimError> {
        let waiting = |l: &Line| l.refund_status == RefundStatus::WaitSellerAgree;
        let targets: Vec<usize> = match oids {
            Some(oids) => self.lines_by_oid(oids)?,
            None => (0..self.lines.len()).filter(|&i| waiting(&self.lines[i])).collect(),
        };
        if let Some(&i) = targets.iter().find(|&&i| !waiting(&self.lines[i]) || self.lines[i].shipment.is_none()) {
            return Err(SimError::InvalidStatus(format!(
                "line `{}` has no refund waiting for the seller, or was never shipped: nothing to send back",
                self.lines[i].oid
            )));
        }
        self.touch(now);
        for i in targets {
            self.lines[i].refund_status = RefundStatus::WaitBuyerReturnGoods;
        }
        Ok(self.change(Topic::RefundCreated))
    }

    /// The pending refunds of some lines (all pending when `oids` is `None`) end: `SUCCESS` (money
    /// back) or `CLOSED` (the buyer withdrew). When no line is left unrefunded the trade becomes
    /// `TRADE_CLOSED`, pushed as `refund.RefundSuccess` followed by `trade.TradeClose`.
    pub fn settle_refund(&mut self, oids: Option<&[String]>, success: bool, now: i64) -> Result<Vec<Change>, SimError> {
        let pending =
            |l: &Line| matches!(l.refund_status, RefundStatus::WaitSellerAgree | RefundStatus::WaitBuyerReturnGoods);
        let targets = match oids {
            Some(oids) => {
                let idx = self.lines_by_oid(oids)?;
                if let Some(&i) = idx.iter().find(|&&i| !pending(&self.lines[i])) {
                    return Err(SimError::InvalidStatus(format!("line `{}` has no pending refund", self.lines[i].oid)));
                }
                idx
            }
            None => (0..self.lines.len()).filter(|&i| pending(&self.lines[i])).collect(),
        };
        if targets.is_empty() {
            return Err(SimError::InvalidStatus(format!("trade `{}` has no pending refund", self.tid)));
        }
        self.touch(now);
        for i in targets {
            self.lines[i].refund_status = if success { RefundStatus::Success } else { RefundStatus::Closed };
        }
        if !success {
            return Ok(vec![self.change(Topic::RefundClosed)]);
        }
        self.status = self.paid_status();
        let mut changes = vec![self.change(Topic::RefundSuccess)];
        if self.status == TradeStatus::TradeClosed {
            self.touch(now);
            changes.push(self.change(Topic::TradeClose));
        }
        Ok(changes)
    }

    /// The status of a paid, unfinished trade, from its lines: closed when every line was
    /// refunded, otherwise by how many of the remaining lines were shipped.
    fn paid_status(&self) -> TradeStatus {
        let active: Vec<&Line> = self.lines.iter().filter(|l| l.refund_status != RefundStatus::Success).collect();
        let shipped = active.iter().filter(|l| l.shipment.is_some()).count();
        match (active.len(), shipped) {
            (0, _) => TradeStatus::TradeClosed,
            (n, s) if s == n => TradeStatus::WaitBuyerConfirmGoods,
            (_, 0) => TradeStatus::WaitSellerSendGoods,
            _ => TradeStatus::SellerConsignedPart,
        }
    }

    /// The seller ships lines with a waybill.
    ///
    /// With `oids`, exactly those lines: each must exist and not be refunded; a line already
    /// shipped with this waybill is a repeat, with another waybill [`SimError::AlreadyShipped`].
    /// Without `oids`, "ship the rest": every unrefunded line not yet shipped gets this waybill;
    /// when none is left, the call is a repeat if some line (refunded or not) carries this
    /// waybill and `AlreadyShipped` otherwise. Shipping nothing new is [`ShipOutcome::Repeat`] and changes
    /// nothing; otherwise the trade moves to `SELLER_CONSIGNED_PART` or
    /// `WAIT_BUYER_CONFIRM_GOODS` and the change is `trade.TradePartlySellerShip` or
    /// `trade.TradeSellerShip`.
    pub fn ship(
        &mut self,
        company_code: &str,
        waybill_no: &str,
        oids: Option<&[String]>,
        now: i64,
    ) -> Result<ShipOutcome, SimError> {
        if company_code.trim().is_empty() || waybill_no.trim().is_empty() {
            return Err(SimError::InvalidParameter("company_code and waybill_no are required".into()));
        }
        if matches!(self.status, TradeStatus::WaitBuyerPay | TradeStatus::TradeClosedByMarket) {
            return Err(self.refuse("ship"));
        }
        let this = Shipment { company_code: company_code.to_owned(), waybill_no: waybill_no.to_owned() };
        let already =
            |s: &Shipment| SimError::AlreadyShipped { tid: self.tid.clone(), waybill_no: s.waybill_no.clone() };
        let mut new = Vec::new();
        match oids {
            Some(oids) => {
                if oids.is_empty() {
                    return Err(SimError::InvalidParameter(
                        "oids must not be empty (leave it out to ship every line)".into(),
                    ));
                }
                for i in self.lines_by_oid(oids)? {
                    let l = &self.lines[i];
                    match &l.shipment {
                        Some(s) if *s == this => {}
                        Some(s) => return Err(already(s)),
                        None if l.refund_status == RefundStatus::Success => {
                            return Err(SimError::InvalidStatus(format!("line `{}` was refunded", l.oid)));
                        }
                        None => new.push(i),
                    }
                }
            }
            None => {
                new = (0..self.lines.len())
                    .filter(|&i| {
                        self.lines[i].refund_status != RefundStatus::Success && self.lines[i].shipment.is_none()
                    })
                    .collect();
                if new.is_empty() {
                    // Refunded lines count too: a ship call repeated after the goods came back
                    // and were refunded is still the same call.
                    if self.lines.iter().any(|l| l.shipment.as_ref() == Some(&this)) {
                        return Ok(ShipOutcome::Repeat);
                    }
                    return match self.lines.iter().find_map(|l| l.shipment.as_ref()) {
                        Some(s) => Err(already(s)),
                        None => Err(self.refuse("ship")),
                    };
                }
            }
        }
        if new.is_empty() {
            return Ok(ShipOutcome::Repeat);
        }
        if self.status.is_final() {
            return Err(self.refuse("ship"));
        }
        self.touch(now);
        for i in new {
            self.lines[i].shipment = Some(this.clone());
        }
        self.status = self.paid_status();
        let topic = if self.status == TradeStatus::WaitBuyerConfirmGoods {
            Topic::TradeSellerShip
        } else {
            Topic::TradePartlySellerShip
        };
        Ok(ShipOutcome::Shipped(Box::new(self.change(topic))))
    }

    /// The buyer confirms receipt: `WAIT_BUYER_CONFIRM_GOODS` → `TRADE_FINISHED`.
    pub fn confirm(&mut self, now: i64) -> Result<Change, SimError> {
        if self.status != TradeStatus::WaitBuyerConfirmGoods {
            return Err(self.refuse("confirm"));
        }
        if self.lines.iter().any(|l| l.refund_status == RefundStatus::WaitSellerAgree) {
            return Err(SimError::InvalidStatus(format!("trade `{}` has a pending refund", self.tid)));
        }
        self.touch(now);
        self.status = TradeStatus::TradeFinished;
        Ok(self.change(Topic::TradeSuccess))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver() -> Receiver {
        Receiver {
            name: "王小明".into(),
            phone: "13800000000".into(),
            province: "浙江省".into(),
            city: "杭州市".into(),
            district: "余杭区".into(),
            address: "文一西路969号".into(),
            zip: "311121".into(),
        }
    }

    fn draft(lines: &[(&str, i64, Fen)], discount: Fen, post: Fen) -> TradeDraft {
        TradeDraft {
            tid: "T1".into(),
            shop_id: "shop-1".into(),
            buyer_nick: "买家小王".into(),
            buyer_memo: None,
            receiver: receiver(),
            post_fee: post,
            discount_fee: discount,
            invoice_request: None,
            lines: lines
                .iter()
                .enumerate()
                .map(|(i, &(sku, num, price))| LineDraft {
                    oid: format!("O{i}"),
                    num_iid: "600000000001".into(),
                    sku_id: format!("500000000000{i}"),
                    code: sku.into(),
                    merchant_code: i > 0,
                    properties: None,
                    title: sku.into(),
                    num,
                    price,
                })
                .collect(),
        }
    }

    #[test]
    fn the_bazaar_md_example_adds_up() {
        let (t, c) = Trade::create(draft(&[("TEE-RED-M", 2, 20900)], 2000, 0), 1_000).unwrap();
        assert_eq!(c.topic, Topic::TradeCreate);
        assert_eq!(c.snapshot.payment, "398.00");
        assert_eq!(c.snapshot.orders[0].payment, "398.00");
        assert_eq!(c.snapshot.discount_fee, "20.00");
        assert_eq!(t.status, TradeStatus::WaitBuyerPay);
        assert_eq!(format_time(1_794_326_403_005), "2026-11-11T00:00:03.005+08:00");
    }

    #[test]
    fn lines_carry_the_marketplace_ids_and_the_merchant_code_only_when_set() {
        let (mut t, c) = Trade::create(draft(&[("A", 1, 100), ("B", 1, 100)], 0, 0), 0).unwrap();
        let o = &c.snapshot.orders;
        assert_eq!((o[0].num_iid.as_str(), o[0].sku_id.as_str()), ("600000000001", "5000000000000"));
        assert_eq!((o[0].outer_sku_id.as_deref(), o[1].outer_sku_id.as_deref()), (None, Some("B")));
        let json = serde_json::to_value(&c.snapshot).unwrap();
        assert!(json["orders"][0]["outer_sku_id"].is_null() && json["seller_flag"] == 0);
        let c = t.set_seller_memo(Some("老客户，送小样".into()), Some(3), 1).unwrap();
        assert_eq!(
            (c.topic, c.snapshot.seller_memo.as_deref(), c.snapshot.seller_flag),
            (Topic::TradeChanged, Some("老客户，送小样"), 3)
        );
        assert!(t.set_seller_memo(None, Some(6), 2).is_err());
        assert!(t.set_seller_memo(None, None, 2).is_err());
    }

    #[test]
    fn modified_moves_forward_even_when_the_clock_does_not() {
        let (mut t, c0) = Trade::create(draft(&[("A", 1, 100), ("B", 1, 100)], 0, 0), 5_000).unwrap();
        let c1 = t.pay(5_000).unwrap();
        let c2 = t.change_address(None, Some("请尽快发货".into()), 4_000).unwrap();
        let c3 = t.request_refund(Some(&["O1".to_string()]), 5_001).unwrap();
        let ms: Vec<&str> = [&c0, &c1, &c2, &c3].iter().map(|c| c.snapshot.modified.as_str()).collect();
        assert!(ms.windows(2).all(|w| w[0] < w[1]), "{ms:?}");
        assert_eq!(c1.snapshot.pay_time.as_deref(), Some(c1.snapshot.modified.as_str()));
    }

    #[test]
    fn partial_refund_then_ship_then_confirm() {
        let (mut t, _) = Trade::create(draft(&[("A", 1, 100), ("B", 2, 50)], 30, 10), 0).unwrap();
        assert_eq!(t.payment(), 100 + 100 - 30 + 10);
        t.pay(1).unwrap();
        let oid_b = vec!["O1".to_string()];
        let c = t.request_refund(Some(&oid_b), 2).unwrap();
        assert_eq!(c.topic, Topic::RefundCreated);
        assert_eq!(c.snapshot.orders[1].refund_status, RefundStatus::WaitSellerAgree);
        let cs = t.settle_refund(None, true, 3).unwrap();
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].topic, Topic::RefundSuccess);
        assert_eq!(t.status, TradeStatus::WaitSellerSendGoods);
        match t.ship("SF", "SF1", None, 4).unwrap() {
            ShipOutcome::Shipped(c) => {
                assert_eq!((c.topic, c.snapshot.status), (Topic::TradeSellerShip, TradeStatus::WaitBuyerConfirmGoods))
            }
            ShipOutcome::Repeat => panic!("expected a shipment"),
        }
        assert!(t.ship("SF", "SF1", Some(&oid_b), 5).is_err(), "a refunded line cannot be shipped");
        assert_eq!(t.confirm(6).unwrap().snapshot.status, TradeStatus::TradeFinished);
    }

    #[test]
    fn full_refund_closes_the_trade_with_two_messages() {
        let (mut t, _) = Trade::create(draft(&[("A", 1, 100), ("B", 1, 100)], 0, 0), 0).unwrap();
        t.pay(1).unwrap();
        t.request_refund(None, 2).unwrap();
        let cs = t.settle_refund(None, true, 3).unwrap();
        assert_eq!(cs.iter().map(|c| c.topic).collect::<Vec<_>>(), vec![Topic::RefundSuccess, Topic::TradeClose]);
        assert!(cs.iter().all(|c| c.snapshot.status == TradeStatus::TradeClosed));
        assert!(cs[0].snapshot.modified < cs[1].snapshot.modified);
        assert!(t.ship("SF", "SF1", None, 4).is_err());
    }

    #[test]
    fn shipping_is_idempotent_per_waybill() {
        let (mut t, _) = Trade::create(draft(&[("A", 1, 100), ("B", 1, 100)], 0, 0), 0).unwrap();
        assert!(matches!(t.ship("SF", "SF1", None, 1), Err(SimError::InvalidStatus(_))), "unpaid");
        t.pay(1).unwrap();
        let a = vec!["O0".to_string()];
        let ShipOutcome::Shipped(c) = t.ship("SF", "SF1", Some(&a), 2).unwrap() else { panic!() };
        assert_eq!((c.topic, t.status), (Topic::TradePartlySellerShip, TradeStatus::SellerConsignedPart));
        assert!(matches!(t.ship("SF", "SF1", Some(&a), 3).unwrap(), ShipOutcome::Repeat));
        assert!(matches!(t.ship("SF", "SF2", Some(&a), 3), Err(SimError::AlreadyShipped { .. })));
        // Without oids: ship the rest, then repeats with that waybill, conflicts with another.
        let ShipOutcome::Shipped(c) = t.ship("YTO", "YT9", None, 4).unwrap() else { panic!() };
        assert_eq!(c.snapshot.status, TradeStatus::WaitBuyerConfirmGoods);
        let modified = t.modified;
        assert!(matches!(t.ship("YTO", "YT9", None, 5).unwrap(), ShipOutcome::Repeat));
        assert!(matches!(t.ship("SF", "SF1", None, 5).unwrap(), ShipOutcome::Repeat));
        assert!(matches!(t.ship("ZTO", "ZT1", None, 5), Err(SimError::AlreadyShipped { .. })));
        assert_eq!(t.modified, modified, "repeats change nothing");
    }

    #[test]
    fn a_ship_call_repeated_after_a_full_refund_is_still_a_repeat() {
        let (mut t, _) = Trade::create(draft(&[("A", 1, 100)], 0, 0), 0).unwrap();
        t.pay(1).unwrap();
        assert!(matches!(t.ship("SF", "SF1", None, 2).unwrap(), ShipOutcome::Shipped(_)));
        t.request_refund(None, 3).unwrap();
        t.settle_refund(None, true, 4).unwrap();
        assert_eq!(t.status, TradeStatus::TradeClosed);
        assert!(matches!(t.ship("SF", "SF1", None, 5).unwrap(), ShipOutcome::Repeat));
        assert!(matches!(t.ship("SF", "SF2", None, 5), Err(SimError::AlreadyShipped { .. })));
    }

    #[test]
    fn unpaid_trades_close_by_market() {
        let (mut t, _) = Trade::create(draft(&[("A", 1, 100)], 0, 0), 0).unwrap();
        let c = t.close_unpaid(1).unwrap();
        assert_eq!((c.topic, c.snapshot.status), (Topic::TradeClose, TradeStatus::TradeClosedByMarket));
        assert!(t.pay(2).is_err());
        assert!(t.request_refund(None, 2).is_err());
    }

    #[test]
    fn bad_drafts_are_refused() {
        assert!(Trade::create(draft(&[], 0, 0), 0).is_err());
        assert!(Trade::create(draft(&[("A", 0, 100)], 0, 0), 0).is_err());
        assert!(Trade::create(draft(&[("A", 1, 100)], 101, 0), 0).is_err());
    }
}
