//! Courier's tracking pushes (COURIER.md "Tracking"): verified like Bazaar's webhooks (HMAC over
//! `"{timestamp}.{raw body}"`, 300 s skew), deduplicated by message id, newer wins.

use crate::{
    db::{self, shipping_accounts, shipping_tracking},
    domain::{
        Status,
        tracking::{self, TrackStatus, Tracked},
    },
    service::Shipping,
};
use kernel::{
    Envelope, TenantId, Timestamp,
    events::{ReturnedUnits, ShipmentTracked, StockReturned},
    signature,
};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::OnConflict};
use serde::Deserialize;
use uuid::Uuid;

/// Largest tracking push accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Timestamps further than this from our clock are refused (as Bazaar's webhooks).
const MAX_SKEW_SECONDS: i64 = 300;
/// Longest message id kept.
const MAX_MESSAGE_ID_LEN: usize = 200;

/// What a tracking push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (and applied, when it was news).
    Accepted,
    /// A message id already stored.
    Duplicate,
}

/// Why a push was refused. Nothing was stored in any case.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("no such account")]
    NotFound,
    #[error("{0}")]
    Unsigned(&'static str),
    #[error("the signature does not match the body and the account's tracking secret")]
    BadSignature,
    #[error("the timestamp is more than {MAX_SKEW_SECONDS} s from our clock")]
    Stale,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

#[derive(Deserialize)]
struct Push {
    waybill_code: String,
    #[serde(default)]
    cp_code: String,
    status: String,
    time: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    detail: String,
}

/// The headers of a push.
pub struct Signed<'a> {
    pub message_id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl Shipping {
    /// Verifies, stores and applies one tracking push for account `account_id`. The URL names
    /// only the account (its secret authenticates the push), so finding it spans tenants;
    /// the rest runs in the account's tenant's scope.
    pub async fn track(&self, account_id: Uuid, h: Signed<'_>, body: &[u8]) -> Result<Outcome, PushError> {
        let account = shipping_accounts::Entity::find()
            .filter(shipping_accounts::Column::Id.eq(account_id))
            .one(self.db.system().conn())
            .await?
            .ok_or(PushError::NotFound)?;
        let message_id = h.message_id.ok_or(PushError::Unsigned("X-Courier-Message-Id is missing"))?;
        let ts = h.timestamp.ok_or(PushError::Unsigned("X-Courier-Timestamp is missing"))?;
        let sig = h.signature.ok_or(PushError::Unsigned("X-Courier-Signature is missing"))?;
        if message_id.is_empty() || message_id.len() > MAX_MESSAGE_ID_LEN {
            return Err(PushError::Invalid(format!("X-Courier-Message-Id must be 1-{MAX_MESSAGE_ID_LEN} characters")));
        }
        let mac = signature::mac(account.tracking_secret.as_bytes(), &[ts.as_bytes(), b".", body]);
        if !signature::verify_base64(mac, sig) {
            return Err(PushError::BadSignature);
        }
        let now = self.clock.now();
        let ts: i64 =
            ts.trim().parse().map_err(|_| PushError::Invalid("X-Courier-Timestamp is not Unix seconds".into()))?;
        if ts.abs_diff(now.timestamp()) > MAX_SKEW_SECONDS as u64 {
            return Err(PushError::Stale);
        }
        let push: Push = serde_json::from_slice(body)
            .map_err(|e| PushError::Invalid(format!("the body is not a tracking event: {e}")))?;
        let status = TrackStatus::parse(&push.status).ok_or_else(|| {
            PushError::Invalid(format!("unknown status `{}`", push.status.chars().take(40).collect::<String>()))
        })?;
        let at: Timestamp = chrono::DateTime::parse_from_rfc3339(&push.time)
            .map_err(|e| {
                PushError::Invalid(format!(
                    "time `{}` is not RFC 3339: {e}",
                    push.time.chars().take(40).collect::<String>()
                ))
            })?
            .with_timezone(&chrono::Utc);
        if push.waybill_code.is_empty() || push.waybill_code.len() > 64 {
            return Err(PushError::Invalid("waybill_code must be 1-64 characters".into()));
        }
        let tenant = TenantId(account.tenant_id);
        let tx = self.db.tenant(tenant.0).write_named("shipping tracking").await?;
        let stored = shipping_tracking::Entity::insert(shipping_tracking::ActiveModel {
            tenant_id: Set(tenant.0),
            account_id: Set(account.id),
            message_id: Set(message_id.to_owned()),
            waybill_code: Set(push.waybill_code.clone()),
            status: Set(status.as_str().to_owned()),
            event_time: Set(at),
            location: Set(push.location.chars().take(200).collect()),
            detail: Set(push.detail.chars().take(500).collect()),
            received_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                shipping_tracking::Column::TenantId,
                shipping_tracking::Column::AccountId,
                shipping_tracking::Column::MessageId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&*tx)
        .await?;
        if stored == 0 {
            tx.commit().await?;
            return Ok(Outcome::Duplicate);
        }
        // The parcel's shipment: the one whose live waybill has this code (a child parcel's
        // events are stored; the shipment follows its parent parcel).
        let found = db::shipments::Entity::find()
            .filter(db::shipments::Column::TenantId.eq(tenant.0))
            .filter(db::shipments::Column::WaybillCode.eq(push.waybill_code.clone()))
            .one(&*tx)
            .await?;
        // Read again under the row's lock: two pushes for one parcel may be applied at once
        // (on PostgreSQL), and newer-wins must compare against what the other one wrote.
        let locked = match found {
            Some(row) => db::load(&*tx, tenant, &[row.id], true).await?.pop(),
            None => None,
        };
        if let Some(mut s) = locked {
            let before = s.status;
            let moved = tracking::apply(&mut s, status, at);
            if moved != Tracked::Stale {
                s.updated_at = now;
                db::save_shipments(&*tx, tenant, &[&s]).await?;
                let words = [push.location.as_str(), push.detail.as_str()]
                    .into_iter()
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut note = format!("{} {}: {}", push.cp_code, push.waybill_code, status.as_str());
                if !words.is_empty() {
                    note.push_str(&format!(" ({words})"));
                }
                db::history(&*tx, tenant, &[(s.id, note)], now).await?;
                let mut events = Vec::new();
                if s.status != before && matches!(s.status, Status::Delivered | Status::Exception | Status::Returned) {
                    events.push(Envelope::new(
                        tenant,
                        &ShipmentTracked {
                            shipment_id: s.id,
                            waybill_code: push.waybill_code.clone(),
                            status: s.status.as_str().to_owned(),
                            order_ids: s.orders.iter().map(|o| o.order_id).collect(),
                            at,
                            detail: words,
                        },
                        now,
                        None,
                    ));
                }
                if moved == Tracked::Returned {
                    // Back at the sender: its units are sellable again, once (this transition
                    // happens once; the inbox of inventory makes the event apply once).
                    let mut units: std::collections::BTreeMap<&str, i64> = Default::default();
                    for l in &s.lines {
                        *units.entry(l.sku_code.as_str()).or_default() += l.quantity;
                    }
                    events.push(Envelope::new(
                        tenant,
                        &StockReturned {
                            return_key: format!("shipment:{}", s.id),
                            warehouse_code: s.warehouse_code.clone(),
                            lines: units
                                .into_iter()
                                .filter(|(sku, q)| !sku.is_empty() && *q > 0)
                                .map(|(sku, q)| ReturnedUnits { sku_code: sku.to_owned(), quantity: q })
                                .collect(),
                            cause: format!("parcel {} {} returned by the carrier", push.cp_code, push.waybill_code),
                        },
                        now,
                        None,
                    ));
                }
                bus::outbox::enqueue(&*tx, &events).await?;
            }
        }
        tx.commit().await?;
        Ok(Outcome::Accepted)
    }
}
