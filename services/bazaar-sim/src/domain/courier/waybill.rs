//! A drawn waybill (one package, one or more parcels) and its life: cancelled before it is
//! collected, or collected and then tracked parcel by parcel. Each move produces one tracking
//! event with a realistic location and detail; an event's time is strictly after the parcel's
//! previous one (at least a millisecond), so events of a compressed schedule still order.

use super::routing::{self, Province};
use super::{Address, Carrier, CourierError, PackageItem, PrintData, TrackingStatus};
use crate::domain::ids::fnv1a;
use crate::domain::trade::format_time;
use serde::{Deserialize, Serialize};

/// Where a package's life is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WaybillState {
    /// Drawn, not collected: it can still be cancelled.
    Allocated,
    Cancelled,
    /// Picked up by the carrier; its parcels are tracked.
    Collected,
}

/// One tracking event as kept (time in Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub status: TrackingStatus,
    pub at: i64,
    pub location: String,
    pub detail: String,
}

/// One parcel (one label, one code) of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parcel {
    pub code: String,
    /// None until collected.
    pub status: Option<TrackingStatus>,
    pub events: Vec<Event>,
    /// When it moves on by itself (Unix ms); none when at rest or not collected.
    pub next_due: Option<i64>,
    /// It fails delivery and goes back to the sender.
    pub returns: bool,
}

/// A tracking event as COURIER.md pushes it (and `GET /waybills/{code}` lists it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEvent {
    pub waybill_code: String,
    pub cp_code: Carrier,
    pub status: TrackingStatus,
    /// RFC 3339 in China time with milliseconds, e.g. `2026-11-13T15:20:11.000+08:00`.
    pub time: String,
    pub location: String,
    pub detail: String,
}

/// A drawn waybill: the package, where it goes, its parcels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waybill {
    /// The package's code: the only parcel's, or the parent's of a multi-parcel package.
    pub waybill_code: String,
    pub seller_id: String,
    pub cp_code: Carrier,
    pub branch_code: String,
    pub branch_name: String,
    pub object_id: String,
    pub sender: Address,
    pub recipient: Address,
    pub items: Vec<PackageItem>,
    pub weight_grams: Option<u32>,
    pub trade_ids: Vec<String>,
    pub print_data: PrintData,
    /// The parcels, the parent (or only one) first.
    pub parcels: Vec<Parcel>,
    pub state: WaybillState,
    pub created: i64,
    pub cancelled: Option<i64>,
    pub collected: Option<i64>,
    /// When it will be collected (a ship write-back named it); none otherwise.
    pub collect_due: Option<i64>,
}

/// What a draw needs besides the codes.
#[derive(Debug, Clone)]
pub struct Draft {
    pub seller_id: String,
    pub cp_code: Carrier,
    pub branch_code: String,
    pub branch_name: String,
    pub object_id: String,
    pub sender: Address,
    pub recipient: Address,
    pub items: Vec<PackageItem>,
    pub weight_grams: Option<u32>,
    pub trade_ids: Vec<String>,
}

/// Checks a recipient and routes it: `courier.invalid-address` for a blank required field or a
/// province outside the mainland's 31.
pub fn route(carrier: Carrier, to: &Address) -> Result<(&'static Province, PrintData), super::PackageError> {
    if let Some(field) = to.missing_field() {
        return Err(super::PackageError::invalid_address(format!("the recipient's {field} is missing")));
    }
    let Some(province) = routing::province(&to.province) else {
        return Err(super::PackageError::invalid_address(format!(
            "`{}` is not a province of the mainland",
            to.province.trim()
        )));
    };
    Ok((province, routing::print_data(carrier, province, to)))
}

/// A 0..n pick that is the same every time for the same parts.
fn pick(parts: &[&str], n: usize) -> usize {
    (fnv1a(parts) % n as u64) as usize
}

const COURIER_SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "胡"];
const MOBILE_PREFIXES: &[&str] = &["138", "139", "135", "136", "137", "150", "151", "158", "187", "188", "177", "199"];
const TOWNS: &[&str] = &["城东", "城西", "城南", "城北", "新城", "开发区", "高新", "中心"];
const SIGNERS: &[&str] = &[
    "已签收，签收人：本人",
    "已签收，签收人：本人",
    "已签收，签收人：家人",
    "已签收，签收人：前台",
    "已签收，签收人：门卫",
    "快件已放入丰巢智能柜，凭取件码领取，已签收",
    "快件已由菜鸟驿站代收，已签收",
];
const EXCEPTIONS: &[&str] =
    &["收件人电话无人接听，派件未成功", "收件地址不详，无法联系收件人", "收件人拒收", "收件人电话空号，派件未成功"];

/// A courier as tracking shows one: `李师傅（138****6621）`.
fn courier(parts: &[&str]) -> String {
    let h = fnv1a(parts);
    let surname = COURIER_SURNAMES[(h % COURIER_SURNAMES.len() as u64) as usize];
    let prefix = MOBILE_PREFIXES[((h >> 8) % MOBILE_PREFIXES.len() as u64) as usize];
    format!("{surname}师傅（{prefix}****{:04}）", (h >> 16) % 10_000)
}

fn place(a: &Address) -> String {
    format!("{}{}", a.city.trim(), a.district.trim())
}

impl Waybill {
    /// A waybill just drawn with these codes (the first is the package's).
    pub fn drawn(d: Draft, print_data: PrintData, codes: Vec<String>, now: i64) -> Waybill {
        let parcels = codes
            .into_iter()
            .map(|code| Parcel { code, status: None, events: Vec::new(), next_due: None, returns: false })
            .collect::<Vec<_>>();
        Waybill {
            waybill_code: parcels[0].code.clone(),
            seller_id: d.seller_id,
            cp_code: d.cp_code,
            branch_code: d.branch_code,
            branch_name: d.branch_name,
            object_id: d.object_id,
            sender: d.sender,
            recipient: d.recipient,
            items: d.items,
            weight_grams: d.weight_grams,
            trade_ids: d.trade_ids,
            print_data,
            parcels,
            state: WaybillState::Allocated,
            created: now,
            cancelled: None,
            collected: None,
            collect_due: None,
        }
    }

    /// The parent's code of a multi-parcel package.
    pub fn parent_code(&self) -> Option<&str> {
        (self.parcels.len() > 1).then_some(self.waybill_code.as_str())
    }

    /// The children's codes of a multi-parcel package.
    pub fn child_codes(&self) -> Vec<String> {
        self.parcels.iter().skip(1).map(|p| p.code.clone()).collect()
    }

    /// The package's status as one word: `ALLOCATED`, `CANCELLED`, or the tracking status of
    /// its parent (or only) parcel.
    pub fn status_word(&self) -> &'static str {
        match (self.state, self.parcels[0].status) {
            (WaybillState::Allocated, _) => "ALLOCATED",
            (WaybillState::Cancelled, _) => "CANCELLED",
            (WaybillState::Collected, Some(s)) => s.as_str(),
            (WaybillState::Collected, None) => "COLLECTED",
        }
    }

    /// Gives the number back: only before collection, only once.
    pub fn cancel(&mut self, now: i64) -> Result<(), CourierError> {
        match self.state {
            WaybillState::Cancelled => Err(CourierError::AlreadyCancelled(self.waybill_code.clone())),
            WaybillState::Collected => Err(CourierError::AlreadyCollected(self.waybill_code.clone())),
            WaybillState::Allocated => {
                self.state = WaybillState::Cancelled;
                self.cancelled = Some(now);
                self.collect_due = None;
                Ok(())
            }
        }
    }

    /// The carrier picks the package up: every parcel is `COLLECTED` and starts its schedule.
    /// `returns(code)` says which parcels will fail delivery; `delay(status)` is how long a
    /// parcel waits before moving to `status` (milliseconds).
    pub fn collect(
        &mut self,
        now: i64,
        returns: impl Fn(&str) -> bool,
        delay: impl Fn(TrackingStatus) -> i64,
    ) -> Result<Vec<TrackingEvent>, CourierError> {
        match self.state {
            WaybillState::Cancelled => return Err(CourierError::AlreadyCancelled(self.waybill_code.clone())),
            WaybillState::Collected => return Err(CourierError::AlreadyCollected(self.waybill_code.clone())),
            WaybillState::Allocated => {}
        }
        self.state = WaybillState::Collected;
        self.collected = Some(now);
        self.collect_due = None;
        let mut events = Vec::with_capacity(self.parcels.len());
        for i in 0..self.parcels.len() {
            self.parcels[i].returns = returns(&self.parcels[i].code);
            events.push(self.move_parcel(i, TrackingStatus::Collected, now, &delay));
        }
        Ok(events)
    }

    /// The parcel at `i` moves on by itself (its `next_due` came); `None` when it is at rest.
    pub fn step(&mut self, i: usize, now: i64, delay: impl Fn(TrackingStatus) -> i64) -> Option<TrackingEvent> {
        let parcel = &self.parcels[i];
        let next = parcel.status?.next(parcel.returns)?;
        Some(self.move_parcel(i, next, now, &delay))
    }

    /// Moves the parcel at `i` to `target` now, through every status on the way (one event
    /// each); an uncollected package is collected first. Afterwards the parcel continues on its
    /// own from `target`, towards the sender when `target` is on the return side.
    pub fn force(
        &mut self,
        i: usize,
        target: TrackingStatus,
        now: i64,
        returns: impl Fn(&str) -> bool,
        delay: impl Fn(TrackingStatus) -> i64,
    ) -> Result<Vec<TrackingEvent>, CourierError> {
        let mut events = Vec::new();
        if self.state == WaybillState::Allocated {
            events = self.collect(now, returns, &delay)?;
            if target == TrackingStatus::Collected {
                return Ok(events);
            }
        } else if self.state == WaybillState::Cancelled {
            return Err(CourierError::AlreadyCancelled(self.waybill_code.clone()));
        }
        let current = self.parcels[i].status.unwrap_or(TrackingStatus::Collected);
        let Some(path) = current.path_to(target) else {
            return Err(CourierError::InvalidStatus(format!(
                "parcel `{}` is {current}: it cannot move to {target}",
                self.parcels[i].code
            )));
        };
        self.parcels[i].returns = target.is_return_side();
        for s in path {
            events.push(self.move_parcel(i, s, now, &delay));
        }
        Ok(events)
    }

    fn move_parcel(
        &mut self,
        i: usize,
        status: TrackingStatus,
        now: i64,
        delay: &impl Fn(TrackingStatus) -> i64,
    ) -> TrackingEvent {
        let at = self.parcels[i].events.last().map_or(now, |e| now.max(e.at + 1));
        let (location, detail) = self.describe(i, status);
        let parcel = &mut self.parcels[i];
        parcel.status = Some(status);
        parcel.next_due = status.next(parcel.returns).map(|n| at + delay(n).max(0));
        parcel.events.push(Event { status, at, location, detail });
        let k = parcel.events.len() - 1;
        self.event(i, k)
    }

    /// The `k`-th event of parcel `i` as COURIER.md writes it.
    pub fn event(&self, i: usize, k: usize) -> TrackingEvent {
        let e = &self.parcels[i].events[k];
        TrackingEvent {
            waybill_code: self.parcels[i].code.clone(),
            cp_code: self.cp_code,
            status: e.status,
            time: format_time(e.at),
            location: e.location.clone(),
            detail: e.detail.clone(),
        }
    }

    /// Every event of every parcel, oldest first.
    pub fn tracking(&self) -> Vec<TrackingEvent> {
        let mut all: Vec<(i64, usize, usize)> = self
            .parcels
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.events.iter().enumerate().map(move |(k, e)| (e.at, i, k)))
            .collect();
        all.sort();
        all.into_iter().map(|(_, i, k)| self.event(i, k)).collect()
    }

    /// Location and detail of a parcel's move, as the carrier's tracking page would say it.
    fn describe(&self, i: usize, status: TrackingStatus) -> (String, String) {
        let code = self.parcels[i].code.as_str();
        let (from, to) = (&self.sender, &self.recipient);
        let hub_of = |a: &Address| {
            let city = routing::province(&a.province)
                .map_or_else(|| routing::city_short(&a.city), |p| routing::hub_city(p, &a.city));
            (routing::hub_name(self.cp_code, &city), format!("{city}市"))
        };
        let (origin_hub, origin_city) = hub_of(from);
        let reason = EXCEPTIONS[pick(&["exception", code], EXCEPTIONS.len())];
        match status {
            TrackingStatus::Collected => (
                place(from),
                format!(
                    "【{}】{} 的快递员 {} 已揽收",
                    from.city.trim(),
                    self.branch_name,
                    courier(&["collect", &self.branch_code])
                ),
            ),
            TrackingStatus::InTransit => {
                (origin_city, format!("快件已从【{origin_hub}】发出，下一站【{}】", self.print_data.consolidation_code))
            }
            TrackingStatus::Delivering => {
                let district =
                    routing::district_short(if to.district.trim().is_empty() { &to.city } else { &to.district });
                let town = TOWNS[pick(&["town", &to.city, &to.district], TOWNS.len())];
                (
                    place(to),
                    format!(
                        "【{}】快件已由 {district}{town}营业部 的派件员 {} 派送中，请保持电话畅通",
                        place(to),
                        courier(&["deliver", &to.city, &to.district, code])
                    ),
                )
            }
            TrackingStatus::Delivered => (place(to), SIGNERS[pick(&["signer", code], SIGNERS.len())].to_owned()),
            TrackingStatus::Exception => (place(to), reason.to_owned()),
            TrackingStatus::Returning => {
                (place(to), format!("快件已发起退回，退回原因：{reason}，正退回【{}】", from.city.trim()))
            }
            TrackingStatus::Returned => (place(from), format!("退回件已签收，签收人：寄件人{}", from.name.trim())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TrackingStatus::*;

    fn draft() -> Draft {
        let a = |name: &str, province: &str, city: &str, district: &str| Address {
            name: name.into(),
            phone: "13800000000".into(),
            province: province.into(),
            city: city.into(),
            district: district.into(),
            address: "幸福大道88号".into(),
        };
        Draft {
            seller_id: "cs-1".into(),
            cp_code: Carrier::Zto,
            branch_code: "571001".into(),
            branch_name: "中通杭州余杭仓前分部".into(),
            object_id: "shp_1".into(),
            sender: a("云栈优品仓", "浙江省", "杭州市", "余杭区"),
            recipient: a("王小明", "四川省", "成都市", "都江堰市"),
            items: vec![PackageItem { name: "纯棉T恤 红色 M".into(), count: 2 }],
            weight_grams: Some(450),
            trade_ids: vec!["T1".into()],
        }
    }

    fn waybill(parcels: usize) -> Waybill {
        let d = draft();
        let (_, print) = route(d.cp_code, &d.recipient).unwrap();
        Waybill::drawn(d, print, (0..parcels).map(|i| format!("ZT73{i:011}")).collect(), 1000)
    }

    #[test]
    fn a_parcel_is_tracked_to_the_door_with_strictly_later_times() {
        let mut w = waybill(1);
        let ev = w.collect(2000, |_| false, |_| 10).unwrap();
        assert_eq!((ev.len(), ev[0].status, ev[0].location.as_str()), (1, Collected, "杭州市余杭区"));
        assert!(ev[0].detail.contains("中通杭州余杭仓前分部"), "{}", ev[0].detail);
        assert_eq!(w.parcels[0].next_due, Some(2010));
        let mut statuses = vec![Collected];
        while let Some(e) = w.step(0, 2000, |_| 10) {
            statuses.push(e.status);
        }
        assert_eq!(statuses, [Collected, InTransit, Delivering, Delivered]);
        let times: Vec<i64> = w.parcels[0].events.iter().map(|e| e.at).collect();
        assert_eq!(times, [2000, 2001, 2002, 2003], "one millisecond apart when the clock stands still");
        assert_eq!(w.parcels[0].next_due, None);
        assert_eq!(w.tracking()[1].detail, "快件已从【杭州转运中心】发出，下一站【成都转运中心】");
        assert_eq!(w.tracking()[2].location, "成都市都江堰市");
        assert_eq!(w.status_word(), "DELIVERED");
    }

    #[test]
    fn cancel_only_before_collection_and_once() {
        let mut w = waybill(1);
        w.cancel(5).unwrap();
        assert_eq!(w.cancel(6), Err(CourierError::AlreadyCancelled(w.waybill_code.clone())));
        assert!(matches!(w.collect(7, |_| false, |_| 1), Err(CourierError::AlreadyCancelled(_))));
        let mut w = waybill(1);
        w.collect(7, |_| false, |_| 1).unwrap();
        assert_eq!(w.cancel(8), Err(CourierError::AlreadyCollected(w.waybill_code.clone())));
        assert_eq!(w.status_word(), "COLLECTED");
    }

    #[test]
    fn one_parcel_of_three_can_be_forced_back_to_the_sender() {
        let mut w = waybill(3);
        assert_eq!((w.parent_code(), w.child_codes().len()), (Some(w.waybill_code.as_str()), 2));
        let ev = w.force(2, Returned, 50, |_| false, |_| 1000).unwrap();
        let got: Vec<(String, TrackingStatus)> = ev.iter().map(|e| (e.waybill_code.clone(), e.status)).collect();
        let c = |i: usize| w.parcels[i].code.clone();
        assert_eq!(
            got,
            [
                (c(0), Collected),
                (c(1), Collected),
                (c(2), Collected),
                (c(2), InTransit),
                (c(2), Delivering),
                (c(2), Exception),
                (c(2), Returning),
                (c(2), Returned)
            ]
        );
        assert_eq!(w.parcels[0].next_due, Some(1050), "the others go on by themselves");
        assert!(ev[7].detail.starts_with("退回件已签收"));
        assert!(matches!(w.force(2, Delivered, 60, |_| false, |_| 1), Err(CourierError::InvalidStatus(_))));
        assert!(matches!(w.force(0, Collected, 60, |_| false, |_| 1), Err(CourierError::InvalidStatus(_))));
        assert_eq!(w.force(0, Exception, 60, |_| false, |_| 1).unwrap().len(), 3);
        assert_eq!(w.step(0, 70, |_| 1).unwrap().status, Returning, "an exception goes back by itself");
    }

    #[test]
    fn unknown_provinces_and_blank_fields_are_invalid_addresses() {
        let d = draft();
        let bad = Address { province: "火星".into(), ..d.recipient.clone() };
        assert_eq!(route(Carrier::Zto, &bad).unwrap_err().code, "courier.invalid-address");
        let blank = Address { name: String::new(), ..d.recipient };
        let e = route(Carrier::Zto, &blank).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("courier.invalid-address", "the recipient's name is missing")
        );
    }
}
