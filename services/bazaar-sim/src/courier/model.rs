//! Courier's public request and record types, shared by the Rust API (`Sim`), the Courier API
//! and the admin API (as JSON) and the tests.

use crate::domain::courier::waybill::{TrackingEvent, Waybill, WaybillState};
use crate::domain::courier::{Address, Carrier, PackageError, PackageItem, PrintData, TrackingStatus};
use crate::domain::trade::format_time;
use crate::model::MessageState;
use serde::{Deserialize, Serialize};

/// A sender company with accounts at carriers' branches, and the token Cairn calls with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourierSeller {
    pub seller_id: String,
    pub name: String,
    /// What Cairn sends as `Authorization: Bearer …` to `/courier/v1`.
    pub access_token: String,
    pub accounts: Vec<CourierAccount>,
    /// Where tracking events of each account go (`PUT /courier/v1/tracking-subscription`).
    pub subscriptions: Vec<TrackingSubscription>,
}

/// An account with a carrier's branch, as `GET /courier/v1/accounts` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourierAccount {
    pub cp_code: Carrier,
    pub branch_code: String,
    pub branch_name: String,
    /// Numbers left at a franchise branch; null for a direct carrier.
    pub quantity: Option<i64>,
    /// Numbers drawn, ever (a multi-parcel package draws one per parcel).
    pub allocated: u64,
    /// Numbers given back by cancelling.
    pub cancelled: u64,
    /// Labels printed (the simulator sees no printer: only the admin sets it).
    pub printed: u64,
}

/// Where an account's tracking events are pushed, and the secret they are signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingSubscription {
    pub cp_code: Carrier,
    pub branch_code: String,
    pub url: String,
    pub secret: String,
}

/// A Courier seller to create; fields left out are generated. With no accounts it gets a ZTO
/// branch with 1000 numbers and an SF monthly account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewCourierSeller {
    pub seller_id: Option<String>,
    pub name: Option<String>,
    pub access_token: Option<String>,
    pub accounts: Vec<NewCourierAccount>,
}

/// An account to open: branch code and name are generated when absent (a branch in the
/// seller's warehouse town), `quantity` defaults to 1000 at a franchise carrier and must be
/// absent at a direct one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewCourierAccount {
    pub cp_code: Carrier,
    #[serde(default)]
    pub branch_code: Option<String>,
    #[serde(default)]
    pub branch_name: Option<String>,
    #[serde(default)]
    pub quantity: Option<i64>,
}

impl NewCourierAccount {
    /// An account with `cp_code`, everything else generated.
    pub fn new(cp_code: Carrier) -> Self {
        NewCourierAccount { cp_code, branch_code: None, branch_name: None, quantity: None }
    }
}

/// Changes to an account (admin): the balance of a franchise branch, the printed counter.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CourierAccountUpdate {
    pub quantity: Option<i64>,
    pub printed: Option<u64>,
}

/// The body of `POST /courier/v1/waybills`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrawRequest {
    pub cp_code: String,
    pub branch_code: String,
    pub sender: Address,
    pub packages: Vec<DrawPackage>,
}

/// One package to draw a waybill for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrawPackage {
    /// The caller's id of the package; drawing again for it returns the same live waybill.
    pub object_id: String,
    pub recipient: Address,
    #[serde(default)]
    pub items: Vec<PackageItem>,
    #[serde(default)]
    pub weight_grams: Option<u32>,
    /// 子母件: more than one makes a parent code and `parcels − 1` child codes.
    #[serde(default = "one")]
    pub parcels: u32,
    #[serde(default)]
    pub trade_ids: Vec<String>,
}

fn one() -> u32 {
    1
}

/// A package's waybill, as a draw answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawnWaybill {
    pub object_id: String,
    pub waybill_code: String,
    pub parent_waybill_code: Option<String>,
    pub child_waybill_codes: Vec<String>,
    pub print_data: PrintData,
}

/// One entry of a draw's `results`: a waybill or why this package got none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DrawResult {
    Drawn(DrawnWaybill),
    Failed { object_id: String, error: PackageError },
}

impl DrawResult {
    /// The waybill, if the package got one.
    pub fn drawn(&self) -> Option<&DrawnWaybill> {
        match self {
            DrawResult::Drawn(w) => Some(w),
            DrawResult::Failed { .. } => None,
        }
    }

    /// The error code, if the package got no waybill.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            DrawResult::Drawn(_) => None,
            DrawResult::Failed { error, .. } => Some(&error.code),
        }
    }
}

/// One parcel of a package and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParcelStatus {
    pub waybill_code: String,
    /// 1 for the parent (or only) parcel; the label prints `parcel_no/parcels`.
    pub parcel_no: u32,
    /// Null until collected.
    pub status: Option<TrackingStatus>,
}

/// A waybill as `GET /courier/v1/waybills/{code}` answers it: the draw's fields, the package,
/// where its parcels are and every tracking event so far (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaybillView {
    pub object_id: String,
    pub waybill_code: String,
    pub parent_waybill_code: Option<String>,
    pub child_waybill_codes: Vec<String>,
    pub print_data: PrintData,
    pub cp_code: Carrier,
    pub branch_code: String,
    pub seller_id: String,
    /// `ALLOCATED`, `CANCELLED`, or the parent (or only) parcel's tracking status.
    pub status: String,
    pub sender: Address,
    pub recipient: Address,
    pub items: Vec<PackageItem>,
    pub weight_grams: Option<u32>,
    pub parcels: u32,
    pub trade_ids: Vec<String>,
    pub created: String,
    pub cancelled_at: Option<String>,
    pub collected_at: Option<String>,
    /// Set when a ship write-back named the waybill and collection is pending.
    pub collect_due_at: Option<String>,
    pub parcel_status: Vec<ParcelStatus>,
    pub tracking: Vec<TrackingEvent>,
}

impl WaybillView {
    pub(crate) fn of(w: &Waybill) -> WaybillView {
        WaybillView {
            object_id: w.object_id.clone(),
            waybill_code: w.waybill_code.clone(),
            parent_waybill_code: w.parent_code().map(str::to_owned),
            child_waybill_codes: w.child_codes(),
            print_data: w.print_data.clone(),
            cp_code: w.cp_code,
            branch_code: w.branch_code.clone(),
            seller_id: w.seller_id.clone(),
            status: w.status_word().to_owned(),
            sender: w.sender.clone(),
            recipient: w.recipient.clone(),
            items: w.items.clone(),
            weight_grams: w.weight_grams,
            parcels: w.parcels.len() as u32,
            trade_ids: w.trade_ids.clone(),
            created: format_time(w.created),
            cancelled_at: w.cancelled.map(format_time),
            collected_at: w.collected.map(format_time),
            collect_due_at: w.collect_due.filter(|_| w.state == WaybillState::Allocated).map(format_time),
            parcel_status: w
                .parcels
                .iter()
                .enumerate()
                .map(|(i, p)| ParcelStatus { waybill_code: p.code.clone(), parcel_no: i as u32 + 1, status: p.status })
                .collect(),
            tracking: w.tracking(),
        }
    }

    /// The draw's answer for this waybill.
    pub fn drawn(&self) -> DrawnWaybill {
        DrawnWaybill {
            object_id: self.object_id.clone(),
            waybill_code: self.waybill_code.clone(),
            parent_waybill_code: self.parent_waybill_code.clone(),
            child_waybill_codes: self.child_waybill_codes.clone(),
            print_data: self.print_data.clone(),
        }
    }
}

/// Which waybills to list (`Sim::courier_waybills`, `GET /admin/courier/waybills`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WaybillFilter {
    pub seller_id: Option<String>,
    pub cp_code: Option<Carrier>,
    pub object_id: Option<String>,
    /// `ALLOCATED`, `CANCELLED` or a tracking status.
    pub status: Option<String>,
}

/// One tracking event pushed (or meant to be) and how its delivery went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRecord {
    /// `X-Courier-Message-Id`.
    pub id: String,
    pub seller_id: String,
    pub branch_code: String,
    /// The event exactly as pushed (the body).
    pub event: TrackingEvent,
    pub state: MessageState,
    /// 2 when chaos duplicated it.
    pub copies: u32,
    /// Attempts over all copies.
    pub attempts: u32,
    /// Successful (2xx) deliveries over all copies.
    pub deliveries: u32,
    pub first_status: Option<u16>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// Which pushes to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PushFilter {
    pub seller_id: Option<String>,
    /// A parcel's code (a child's pushes carry the child's code).
    pub waybill_code: Option<String>,
    pub state: Option<MessageState>,
    /// The most recent `limit` matches (all when absent).
    pub limit: Option<usize>,
}

/// Counters of the Courier side (`GET /admin/courier/stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CourierStats {
    pub sellers: usize,
    pub waybills: usize,
    pub api_calls: u64,
    pub api_auth_failures: u64,
    pub api_rate_limited: u64,
    pub api_unavailable: u64,
    /// Packages that got a new waybill.
    pub packages_drawn: u64,
    /// Packages answered with the live waybill they already had.
    pub packages_repeated: u64,
    /// Packages refused (balance, address).
    pub packages_failed: u64,
    pub cancels: u64,
    /// Draws answered 500 by chaos (before or after drawing).
    pub draw_failures_injected: u64,
    /// Draws left unanswered by chaos after drawing.
    pub draw_timeouts_injected: u64,
    pub draw_slow_injected: u64,
    pub pushes_created: u64,
    pub pushes_delivered: u64,
    pub pushes_dropped: u64,
    pub pushes_duplicated: u64,
    pub pushes_given_up: u64,
    pub pushes_unsubscribed: u64,
    pub push_attempts: u64,
    pub pushes_pending: usize,
}
