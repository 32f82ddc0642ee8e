//! Courier, the carrier network of COURIER.md, free of I/O: the carriers, their waybill codes,
//! the routing data printed on labels, and a waybill's life (drawn, cancelled or collected,
//! then tracked parcel by parcel). No clock (callers pass `now` in Unix milliseconds), no
//! async, no HTTP.

pub mod codes;
pub mod routing;
pub mod waybill;

use serde::{Deserialize, Serialize};

/// A carrier of COURIER.md's table, written as its `cp_code` (`SF`, `ZTO`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Carrier {
    Sf,
    Jd,
    Ems,
    Zto,
    Yto,
    Sto,
    Yunda,
}

impl Carrier {
    /// Every carrier, direct ones first.
    pub const ALL: [Carrier; 7] =
        [Carrier::Sf, Carrier::Jd, Carrier::Ems, Carrier::Zto, Carrier::Yto, Carrier::Sto, Carrier::Yunda];

    /// The `cp_code`, e.g. `ZTO`.
    pub fn code(self) -> &'static str {
        match self {
            Carrier::Sf => "SF",
            Carrier::Jd => "JD",
            Carrier::Ems => "EMS",
            Carrier::Zto => "ZTO",
            Carrier::Yto => "YTO",
            Carrier::Sto => "STO",
            Carrier::Yunda => "YUNDA",
        }
    }

    /// The carrier of a `cp_code` (exact, upper case).
    pub fn parse(code: &str) -> Option<Carrier> {
        Carrier::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The name printed on labels (`cp_name`), e.g. `中通快递`.
    pub fn name(self) -> &'static str {
        match self {
            Carrier::Sf => "顺丰速运",
            Carrier::Jd => "京东物流",
            Carrier::Ems => "中国邮政EMS",
            Carrier::Zto => "中通快递",
            Carrier::Yto => "圆通速递",
            Carrier::Sto => "申通快递",
            Carrier::Yunda => "韵达快递",
        }
    }

    /// How people call it, as in branch names: `中通`, `顺丰`, `邮政`.
    pub fn short(self) -> &'static str {
        match self {
            Carrier::Sf => "顺丰",
            Carrier::Jd => "京东",
            Carrier::Ems => "邮政",
            Carrier::Zto => "中通",
            Carrier::Yto => "圆通",
            Carrier::Sto => "申通",
            Carrier::Yunda => "韵达",
        }
    }

    /// Franchise carriers sell numbers to branches in advance, so a branch has a balance; direct
    /// ones settle monthly and have none.
    pub fn is_franchise(self) -> bool {
        matches!(self, Carrier::Zto | Carrier::Yto | Carrier::Sto | Carrier::Yunda)
    }
}

impl std::fmt::Display for Carrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a Courier operation was refused. Each variant has a stable `courier.*` code and an HTTP
/// status, shared by the Courier API and the admin API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CourierError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("at most {max} packages per call, not {got}")]
    TooManyPackages { max: usize, got: usize },
    #[error("courier seller `{0}` does not exist")]
    SellerNotFound(String),
    #[error("courier seller `{0}` already exists")]
    SellerExists(String),
    #[error("no account {cp_code}/{branch_code} for this seller")]
    AccountNotFound { cp_code: String, branch_code: String },
    #[error("waybill `{0}` does not exist")]
    WaybillNotFound(String),
    #[error("waybill `{0}` was already collected")]
    AlreadyCollected(String),
    #[error("waybill `{0}` was already cancelled")]
    AlreadyCancelled(String),
    /// A forced tracking status the parcel cannot move to (already there or past it).
    #[error("{0}")]
    InvalidStatus(String),
}

impl CourierError {
    /// The stable error code of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            CourierError::InvalidRequest(_) => "courier.invalid-request",
            CourierError::TooManyPackages { .. } => "courier.too-many-packages",
            CourierError::SellerNotFound(_) => "courier.seller-not-found",
            CourierError::SellerExists(_) => "courier.seller-exists",
            CourierError::AccountNotFound { .. } => "courier.account-not-found",
            CourierError::WaybillNotFound(_) => "courier.waybill-not-found",
            CourierError::AlreadyCollected(_) => "courier.already-collected",
            CourierError::AlreadyCancelled(_) => "courier.already-cancelled",
            CourierError::InvalidStatus(_) => "courier.invalid-status",
        }
    }

    /// The HTTP status the error is answered with.
    pub fn http_status(&self) -> u16 {
        match self {
            CourierError::InvalidRequest(_) | CourierError::TooManyPackages { .. } => 400,
            CourierError::SellerNotFound(_)
            | CourierError::AccountNotFound { .. }
            | CourierError::WaybillNotFound(_) => 404,
            CourierError::SellerExists(_)
            | CourierError::AlreadyCollected(_)
            | CourierError::AlreadyCancelled(_)
            | CourierError::InvalidStatus(_) => 409,
        }
    }
}

/// Why one package of a draw call got no waybill (the others in the call still do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct PackageError {
    /// `courier.insufficient-balance`, `courier.address-unreachable` or `courier.invalid-address`.
    pub code: String,
    pub message: String,
}

impl PackageError {
    pub fn insufficient_balance(message: impl Into<String>) -> Self {
        PackageError { code: "courier.insufficient-balance".into(), message: message.into() }
    }

    pub fn unreachable(message: impl Into<String>) -> Self {
        PackageError { code: "courier.address-unreachable".into(), message: message.into() }
    }

    pub fn invalid_address(message: impl Into<String>) -> Self {
        PackageError { code: "courier.invalid-address".into(), message: message.into() }
    }
}

/// A sender or recipient as COURIER.md writes it. Fields absent on the wire read as empty, so
/// a missing one is refused with a clear error rather than a parse failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Address {
    pub name: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub address: String,
}

impl Address {
    /// The first required field that is blank (`district` is optional).
    pub fn missing_field(&self) -> Option<&'static str> {
        [
            ("name", &self.name),
            ("phone", &self.phone),
            ("province", &self.province),
            ("city", &self.city),
            ("address", &self.address),
        ]
        .into_iter()
        .find(|(_, v)| v.trim().is_empty())
        .map(|(k, _)| k)
    }
}

/// One line of the custom area of a label: what is in the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageItem {
    pub name: String,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// What the carrier returns for printing a label (COURIER.md `print_data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintData {
    /// 大头笔: the large print, e.g. `830 都江堰` or `杭州 余杭`.
    pub sortation_name: String,
    /// 三段码, e.g. `830-120-00 012`.
    pub route_code: String,
    /// 集包地: the hub the parcel is bagged for, e.g. `成都转运中心`.
    pub consolidation_code: String,
    /// The carrier's name, e.g. `中通快递`.
    pub cp_name: String,
}

/// A tracking status (COURIER.md), in the order a parcel moves through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TrackingStatus {
    /// 揽收: the carrier picked the parcel up.
    Collected,
    InTransit,
    /// 派送中
    Delivering,
    /// 签收
    Delivered,
    /// 问题件: delivery failed (with a detail saying why).
    Exception,
    Returning,
    /// Back at the sender.
    Returned,
}

impl TrackingStatus {
    /// Every status.
    pub const ALL: [TrackingStatus; 7] = [
        TrackingStatus::Collected,
        TrackingStatus::InTransit,
        TrackingStatus::Delivering,
        TrackingStatus::Delivered,
        TrackingStatus::Exception,
        TrackingStatus::Returning,
        TrackingStatus::Returned,
    ];

    /// As written on the wire, e.g. `IN_TRANSIT`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingStatus::Collected => "COLLECTED",
            TrackingStatus::InTransit => "IN_TRANSIT",
            TrackingStatus::Delivering => "DELIVERING",
            TrackingStatus::Delivered => "DELIVERED",
            TrackingStatus::Exception => "EXCEPTION",
            TrackingStatus::Returning => "RETURNING",
            TrackingStatus::Returned => "RETURNED",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<TrackingStatus> {
        TrackingStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The parcel is at rest: delivered, or back at the sender.
    pub fn is_final(self) -> bool {
        matches!(self, TrackingStatus::Delivered | TrackingStatus::Returned)
    }

    /// Where a parcel goes from here on its own: along the happy path, or, for a parcel that
    /// fails delivery (`returns`), from `DELIVERING` to `EXCEPTION`, `RETURNING`, `RETURNED`.
    pub fn next(self, returns: bool) -> Option<TrackingStatus> {
        use TrackingStatus::*;
        match self {
            Collected => Some(InTransit),
            InTransit => Some(Delivering),
            Delivering if returns => Some(Exception),
            Delivering => Some(Delivered),
            Exception if returns => Some(Returning),
            // An exception the carrier resolved (forced back onto the happy path): delivered
            // on a second attempt.
            Exception => Some(Delivering),
            Returning => Some(Returned),
            Delivered | Returned => None,
        }
    }

    /// Every move the network allows (a forced status takes the shortest way along these).
    fn moves(self) -> &'static [TrackingStatus] {
        use TrackingStatus::*;
        match self {
            Collected => &[InTransit],
            InTransit => &[Delivering],
            Delivering => &[Delivered, Exception],
            Exception => &[Returning, Delivering],
            Returning => &[Returned],
            Delivered | Returned => &[],
        }
    }

    /// The statuses a parcel passes through from `self` (excluded) to `target` (included), the
    /// shortest way; `None` when `target` cannot be reached (it is `self`, or behind it).
    pub fn path_to(self, target: TrackingStatus) -> Option<Vec<TrackingStatus>> {
        let mut paths: Vec<Vec<TrackingStatus>> = vec![vec![self]];
        let mut seen = vec![self];
        while !paths.is_empty() {
            let mut next = Vec::new();
            for path in paths {
                let last = *path.last().expect("paths are never empty");
                for &m in last.moves() {
                    if seen.contains(&m) {
                        continue;
                    }
                    seen.push(m);
                    let mut p = path.clone();
                    p.push(m);
                    if m == target {
                        return Some(p.split_off(1));
                    }
                    next.push(p);
                }
            }
            paths = next;
        }
        None
    }

    /// The parcel is on its way back (or failed and will be).
    pub fn is_return_side(self) -> bool {
        matches!(self, TrackingStatus::Exception | TrackingStatus::Returning | TrackingStatus::Returned)
    }
}

impl std::fmt::Display for TrackingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TrackingStatus::*;

    #[test]
    fn carriers_round_trip_their_codes() {
        for c in Carrier::ALL {
            assert_eq!(Carrier::parse(c.code()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.code());
        }
        assert_eq!(Carrier::parse("zto"), None);
        let franchise: Vec<_> = Carrier::ALL.into_iter().filter(|c| c.is_franchise()).map(Carrier::code).collect();
        assert_eq!(franchise, ["ZTO", "YTO", "STO", "YUNDA"]);
    }

    #[test]
    fn parcels_move_along_one_of_two_paths() {
        let walk = |returns| {
            let mut s = vec![Collected];
            while let Some(n) = s.last().unwrap().next(returns) {
                s.push(n);
            }
            s
        };
        assert_eq!(walk(false), [Collected, InTransit, Delivering, Delivered]);
        assert_eq!(walk(true), [Collected, InTransit, Delivering, Exception, Returning, Returned]);
    }

    #[test]
    fn forced_statuses_take_the_shortest_way() {
        assert_eq!(Collected.path_to(Returned).unwrap(), [InTransit, Delivering, Exception, Returning, Returned]);
        assert_eq!(InTransit.path_to(Delivered).unwrap(), [Delivering, Delivered]);
        assert_eq!(Exception.path_to(Delivered).unwrap(), [Delivering, Delivered]);
        assert_eq!(Delivering.path_to(Exception).unwrap(), [Exception]);
        assert_eq!(Delivered.path_to(Returned), None);
        assert_eq!(InTransit.path_to(InTransit), None);
        assert_eq!(Delivering.path_to(Collected), None);
        for s in TrackingStatus::ALL {
            assert_eq!(TrackingStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn a_blank_field_is_named() {
        let a = Address {
            name: "王小明".into(),
            phone: "13800000000".into(),
            province: "四川省".into(),
            city: "成都市".into(),
            district: String::new(),
            address: "幸福大道88号".into(),
        };
        assert_eq!(a.missing_field(), None);
        assert_eq!(Address { phone: " ".into(), ..a.clone() }.missing_field(), Some("phone"));
        assert_eq!(Address { address: String::new(), ..a }.missing_field(), Some("address"));
    }
}
