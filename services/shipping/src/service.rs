//! The use cases: shipments from readiness news, drawing waybills through Courier, shipping,
//! splitting, carrier accounts and rules. Rules from [`crate::domain`]; rows from
//! [`crate::db`]; Courier through [`crate::courier`].

use crate::{
    courier::{self, CallError, Courier, Credentials, Drawn, MAX_PACKAGES},
    db::{self, shipping_accounts},
    domain::{
        PrintData, Settings, Shipment, Status, Waybill,
        plan::{Desk, Effect, PlanError},
        rules::{self, Rules},
    },
};
use futures_util::StreamExt;
use kernel::{
    Envelope, SharedClock, TenantId, Timestamp,
    events::{ShipmentShipped, ShippedOrder},
};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Most shipments one draw, ship or batch request may name.
pub const MAX_IDS: usize = 1000;
/// Courier draw calls in flight at once for one request.
const DRAW_CONCURRENCY: usize = 4;

/// The shipping use cases (cheap to clone).
#[derive(Clone)]
pub struct Shipping {
    pub db: store::Db,
    pub clock: SharedClock,
    pub courier: Courier,
    /// Where Courier reaches this deployment (tracking webhook URLs).
    pub public_url: String,
    /// Wakes this process's worker when a waybill is queued for cancellation or a label batch
    /// is queued (other instances find them on their next poll).
    pub wake: std::sync::Arc<tokio::sync::Notify>,
}

/// Why a use case failed. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    /// A name in the request (an account, a SKU…) is not the tenant's.
    #[error("{0}")]
    UnknownReference(String),
    #[error("{0}")]
    Conflict(String),
    /// Courier did not answer or refused the credentials.
    #[error("{0}")]
    Courier(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::NotFound => Error::NotFound,
            PlanError::Invalid(m) => Error::Invalid(m),
            PlanError::Conflict(m) => Error::Conflict(m),
            PlanError::AlreadyShipped => Error::Conflict("the shipment has already left".into()),
        }
    }
}

/// What became of one shipment named in a bulk request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemResult {
    pub id: Uuid,
    /// `drawn`, `already_drawn`, `failed`, `skipped`, `shipped`, `already_shipped`, `not_found`.
    pub outcome: &'static str,
    pub waybill_code: Option<String>,
    pub detail: Option<String>,
}

impl ItemResult {
    fn new(id: Uuid, outcome: &'static str, waybill: Option<String>, detail: Option<String>) -> Self {
        ItemResult { id, outcome, waybill_code: waybill, detail }
    }
}

/// A new carrier account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub cp_code: String,
    pub branch_code: String,
    pub creds: Credentials,
    pub sender: courier::Address,
}

/// A tracking webhook secret: random, long enough that guessing is no attack.
fn new_secret() -> String {
    format!("trksec_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// The credentials stored with an account.
pub fn credentials(a: &shipping_accounts::Model) -> Credentials {
    Credentials {
        api_url: a.api_url.clone(),
        app_key: a.app_key.clone(),
        app_secret: a.app_secret.clone(),
        access_token: a.access_token.clone(),
    }
}

/// Writes what a desk changed: its dirty shipments, their history, and the waybills it gave
/// up queued for cancellation.
pub async fn save_desk<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    desk: &mut Desk,
    now: Timestamp,
) -> Result<(), DbErr> {
    let dirty: Vec<&Shipment> = desk.dirty.iter().filter_map(|id| desk.shipments.get(id)).collect();
    db::save_shipments(conn, tenant, &dirty).await?;
    let mut notes = Vec::new();
    for e in desk.effects.drain(..) {
        match e {
            Effect::CancelWaybill { shipment_id, waybill } => {
                db::queue_cancel(conn, tenant, shipment_id, &waybill, "intercepted or replanned", now).await?;
                notes.push((
                    shipment_id,
                    format!("Waybill {} {} to be cancelled at the carrier", waybill.cp_code, waybill.code),
                ));
            }
            Effect::Note { shipment_id, text } => notes.push((shipment_id, text)),
        }
    }
    db::history(conn, tenant, &notes, now).await?;
    desk.dirty.clear();
    Ok(())
}

/// A PostgreSQL advisory lock key for a tenant's string (FNV-1a, the same in every process).
pub fn lock_key(tenant: TenantId, s: &str) -> i64 {
    tenant
        .0
        .as_bytes()
        .iter()
        .chain(s.as_bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)) as i64
}

/// Takes transaction-scoped advisory locks on `keys` in order (PostgreSQL; SQLite's writer
/// is already alone).
pub async fn lock_all<C: ConnectionTrait>(conn: &C, db: &store::Db, mut keys: Vec<i64>) -> Result<(), DbErr> {
    if !db.is_postgres() {
        return Ok(());
    }
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        conn.execute_raw(store::stmt(db, "select pg_advisory_xact_lock(?)", vec![k.into()])).await?;
    }
    Ok(())
}

impl Shipping {
    /// A desk with the tenant's shipments `ids` and every other open shipment of the orders
    /// they carry (a ship needs to know where the rest of an order's lines are), locked.
    async fn desk_for<C: ConnectionTrait>(&self, conn: &C, tenant: TenantId, ids: &[Uuid]) -> Result<Desk, DbErr> {
        let named = db::load(conn, tenant, ids, true).await?;
        let orders: Vec<Uuid> = named.iter().flat_map(|s| s.orders.iter().map(|o| o.order_id)).collect();
        let mut more = db::ids_with_orders(conn, tenant, &orders).await?;
        more.retain(|id| !ids.contains(id));
        let others = db::load(conn, tenant, &more, true).await?;
        Ok(Desk::new(named.into_iter().chain(others)))
    }

    // ---- shipments by hand ----

    /// Splits shipment `id` (see [`Desk::split`]); returns the new shipments' ids.
    pub async fn split(
        &self,
        tenant: TenantId,
        id: Uuid,
        parts: &[Vec<(Uuid, String, i64)>],
    ) -> Result<Vec<Uuid>, Error> {
        self.replan(tenant, id, |desk, now| desk.split(id, parts, now, kernel::new_id)).await
    }

    /// Unmerges shipment `id`: one shipment per order.
    pub async fn unmerge(&self, tenant: TenantId, id: Uuid) -> Result<Vec<Uuid>, Error> {
        self.replan(tenant, id, |desk, now| desk.unmerge(id, now, kernel::new_id)).await
    }

    async fn replan(
        &self,
        tenant: TenantId,
        id: Uuid,
        f: impl FnOnce(&mut Desk, Timestamp) -> Result<Vec<Uuid>, PlanError>,
    ) -> Result<Vec<Uuid>, Error> {
        let now = self.clock.now();
        let tx = self.db.tenant(tenant.0).write_named("shipping").await?;
        let mut desk = Desk::new(db::load(&*tx, tenant, &[id], true).await?);
        if desk.shipments.is_empty() {
            return Err(Error::NotFound);
        }
        let made = f(&mut desk, now)?;
        save_desk(&*tx, tenant, &mut desk, now).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(made)
    }

    /// Sets the parcels and weight of shipment `id` (before its waybill is drawn).
    pub async fn set_package(
        &self,
        tenant: TenantId,
        id: Uuid,
        parcels: u32,
        weight_grams: i64,
    ) -> Result<Shipment, Error> {
        if !(1..=crate::domain::MAX_PARCELS).contains(&parcels) {
            return Err(Error::Invalid(format!("parcels must be 1-{}", crate::domain::MAX_PARCELS)));
        }
        if !(0..=1_000_000).contains(&weight_grams) {
            return Err(Error::Invalid("weight_grams must be 0-1000000 (0: estimate from the units)".into()));
        }
        let now = self.clock.now();
        let tx = self.db.tenant(tenant.0).write_named("shipping").await?;
        let mut s = db::load(&*tx, tenant, &[id], true).await?.pop().ok_or(Error::NotFound)?;
        if s.parcels == parcels && s.weight_grams == weight_grams {
            tx.commit().await?;
            return Ok(s);
        }
        if !s.status.is_open() || s.waybill.is_some() {
            return Err(Error::Conflict("the package can change only before a waybill is drawn".into()));
        }
        s.parcels = parcels;
        s.weight_grams = weight_grams;
        s.updated_at = now;
        db::save_shipments(&*tx, tenant, &[&s]).await?;
        db::history(&*tx, tenant, &[(id, format!("Package: {parcels} parcel(s), {weight_grams} g"))], now).await?;
        tx.commit().await?;
        Ok(s)
    }

    // ---- waybills ----

    /// Draws waybills for the tenant's shipments `ids` through the carrier rules, in calls of at
    /// most ten packages. Each shipment's id is Courier's `object_id`, so a call retried after a
    /// timeout or a crash returns the waybill already drawn instead of drawing another. A
    /// package that fails stays `pending` with the reason.
    pub async fn draw(&self, tenant: TenantId, ids: &[Uuid]) -> Result<Vec<ItemResult>, Error> {
        let ids = distinct(ids)?;
        let db = self.db.tenant(tenant.0);
        let conn = db.conn();
        let found: HashMap<Uuid, Shipment> =
            db::load(conn, tenant, &ids, false).await?.into_iter().map(|s| (s.id, s)).collect();
        let (settings, rules) = db::settings(conn, tenant).await?;
        let accounts: HashMap<Uuid, shipping_accounts::Model> =
            db::accounts(conn, tenant).await?.into_iter().map(|a| (a.id, a)).collect();
        let mut results: BTreeMap<Uuid, ItemResult> = BTreeMap::new();
        let mut by_account: BTreeMap<Uuid, Vec<&Shipment>> = BTreeMap::new();
        let mut no_account: Vec<Uuid> = Vec::new();
        let mut no_receiver: Vec<Uuid> = Vec::new();
        for id in &ids {
            let Some(s) = found.get(id) else {
                results.insert(*id, ItemResult::new(*id, "not_found", None, None));
                continue;
            };
            if let Some(w) = &s.waybill {
                results.insert(*id, ItemResult::new(*id, "already_drawn", Some(w.code.clone()), None));
                continue;
            }
            if s.status != Status::Pending || s.held() {
                let why = format!("the shipment is {}", s.status.as_str());
                results.insert(*id, ItemResult::new(*id, "skipped", None, Some(why)));
                continue;
            }
            let r = &s.receiver;
            if [&r.name, &r.phone, &r.province, &r.city, &r.address].iter().any(|f| f.trim().is_empty()) {
                no_receiver.push(*id);
                continue;
            }
            // Courier answers a draw for an object id that still has a live waybill with that
            // waybill: one given up must be cancelled there first.
            if let Some(code) = self.previous_waybill_pending(tenant, *id).await? {
                let why =
                    format!("its previous waybill {code} is still being cancelled at the carrier; draw again shortly");
                results.insert(*id, ItemResult::new(*id, "skipped", None, Some(why)));
                continue;
            }
            match rules.account_for(s, &settings) {
                Some((a, _)) if accounts.contains_key(&a) => by_account.entry(a).or_default().push(s),
                _ => no_account.push(*id),
            }
        }
        if !no_receiver.is_empty() {
            let why =
                "the receiver's name, phone or address is missing (the marketplace sent none): nothing to draw for";
            self.record_problems(tenant, &no_receiver, why).await?;
            for id in no_receiver {
                results.insert(id, ItemResult::new(id, "failed", None, Some(why.into())));
            }
        }
        if !no_account.is_empty() {
            let why = "no carrier account matches: set a default account in the carrier rules";
            self.record_problems(tenant, &no_account, why).await?;
            for id in no_account {
                results.insert(id, ItemResult::new(id, "failed", None, Some(why.into())));
            }
        }
        // Owned, so each call's future is 'static-friendly (the stream's futures must be Send
        // for every lifetime).
        let calls: Vec<(shipping_accounts::Model, Vec<Shipment>)> = by_account
            .iter()
            .flat_map(|(a, ss)| {
                ss.chunks(MAX_PACKAGES).map(|c| (accounts[a].clone(), c.iter().map(|s| (*s).clone()).collect()))
            })
            .collect();
        let outcomes: Vec<Vec<ItemResult>> = futures_util::stream::iter(calls)
            .map(|(account, chunk)| {
                let (svc, settings) = (self.clone(), settings.clone());
                async move { svc.draw_chunk(tenant, &account, &chunk, &settings).await }
            })
            .buffer_unordered(DRAW_CONCURRENCY)
            .collect::<Vec<Result<Vec<ItemResult>, Error>>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        for r in outcomes.into_iter().flatten() {
            results.insert(r.id, r);
        }
        Ok(ids.iter().filter_map(|id| results.remove(id)).collect())
    }

    /// Cancels now, at Courier, the waybills of shipment `id` still queued for cancellation;
    /// the code of one Courier did not answer for, if any.
    async fn previous_waybill_pending(&self, tenant: TenantId, id: Uuid) -> Result<Option<String>, Error> {
        use crate::db::shipment_waybills as w;
        let queued = w::Entity::find()
            .filter(w::Column::TenantId.eq(tenant.0))
            .filter(w::Column::ShipmentId.eq(id))
            .filter(w::Column::State.eq("cancelling"))
            .all(self.db.tenant(tenant.0).conn())
            .await?;
        for q in queued {
            let code = q.code.clone();
            if !crate::worker::cancel_one(self, q).await? {
                return Ok(Some(code));
            }
        }
        Ok(None)
    }

    async fn record_problems(&self, tenant: TenantId, ids: &[Uuid], why: &str) -> Result<(), Error> {
        let now = self.clock.now();
        let tx = self.db.tenant(tenant.0).write_named("shipping").await?;
        let mut changed = Vec::new();
        for mut s in db::load(&*tx, tenant, ids, true).await? {
            if s.status == Status::Pending && s.waybill.is_none() && s.problem.as_deref() != Some(why) {
                s.problem = Some(why.to_owned());
                s.updated_at = now;
                changed.push(s);
            }
        }
        db::save_shipments(&*tx, tenant, &changed.iter().collect::<Vec<_>>()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn draw_chunk(
        &self,
        tenant: TenantId,
        account: &shipping_accounts::Model,
        chunk: &[Shipment],
        settings: &Settings,
    ) -> Result<Vec<ItemResult>, Error> {
        let sender: courier::Address =
            serde_json::from_str(&account.sender).map_err(|e| DbErr::Custom(e.to_string()))?;
        let packages: Vec<courier::Package> = chunk.iter().map(|s| package(s, settings)).collect();
        let answer =
            self.courier.draw(&credentials(account), &account.cp_code, &account.branch_code, &sender, &packages).await;
        let now = self.clock.now();
        let ids: Vec<Uuid> = chunk.iter().map(|s| s.id).collect();
        let tx = self.db.tenant(tenant.0).write_named("shipping").await?;
        let mut desk = Desk::new(db::load(&*tx, tenant, &ids, true).await?);
        let mut out = Vec::new();
        let mut notes = Vec::new();
        match answer {
            Err(e) => {
                // Unknown outcome: nothing is recorded as drawn. Drawing again asks for the same
                // object ids, so Courier answers with what it drew, if anything.
                let why = match &e {
                    CallError::Unavailable(m) => {
                        format!("Courier did not answer ({m}); draw again: nothing is drawn twice")
                    }
                    CallError::Refused { code, message, .. } => format!("Courier refused the call: {code}: {message}"),
                };
                for s in desk.shipments.values_mut() {
                    if s.status == Status::Pending && s.waybill.is_none() {
                        s.problem = Some(why.clone());
                        s.updated_at = now;
                        desk.dirty.insert(s.id);
                    }
                }
                out.extend(ids.iter().map(|id| ItemResult::new(*id, "failed", None, Some(why.clone()))));
            }
            Ok(results) => {
                for r in results {
                    match r {
                        Drawn::Ok { object_id, waybill_code, child_codes, print } => {
                            let Some(id) = object_id.parse::<Uuid>().ok().filter(|id| ids.contains(id)) else {
                                continue;
                            };
                            let w = Waybill {
                                code: waybill_code.clone(),
                                cp_code: account.cp_code.clone(),
                                account_id: account.id,
                                child_codes,
                                print: PrintData {
                                    sortation_name: print.sortation_name,
                                    route_code: print.route_code,
                                    consolidation_code: print.consolidation_code,
                                    cp_name: print.cp_name,
                                },
                                drawn_at: now,
                            };
                            let Some(s) = desk.shipments.get_mut(&id) else { continue };
                            db::record_waybill(&*tx, tenant, id, &w, s.parcels).await?;
                            if s.waybill.as_ref().is_some_and(|x| x.code == w.code) {
                                out.push(ItemResult::new(id, "already_drawn", Some(w.code), None));
                            } else if s.status == Status::Pending && s.waybill.is_none() && !s.held() {
                                notes.push((id, format!("Waybill drawn: {} {}", w.cp_code, w.code)));
                                s.waybill = Some(w);
                                s.status = Status::WaybillAllocated;
                                s.problem = None;
                                s.updated_at = now;
                                desk.dirty.insert(id);
                                out.push(ItemResult::new(id, "drawn", Some(waybill_code), None));
                            } else {
                                // Held or replanned while Courier drew: the new number goes back.
                                let why =
                                    format!("the shipment became {} while the waybill was drawn", s.status.as_str());
                                db::queue_cancel(&*tx, tenant, id, &w, &why, now).await?;
                                notes.push((id, format!("Waybill {} drawn late, to be cancelled: {why}", w.code)));
                                out.push(ItemResult::new(id, "skipped", None, Some(why)));
                            }
                        }
                        Drawn::Failed { object_id, code, message } => {
                            let Some(id) = object_id.parse::<Uuid>().ok().filter(|id| ids.contains(id)) else {
                                continue;
                            };
                            let why = format!("{code}: {message}");
                            if let Some(s) = desk.shipments.get_mut(&id)
                                && s.waybill.is_none()
                            {
                                s.problem = Some(why.clone());
                                s.updated_at = now;
                                desk.dirty.insert(id);
                            }
                            out.push(ItemResult::new(id, "failed", None, Some(why)));
                        }
                    }
                }
            }
        }
        save_desk(&*tx, tenant, &mut desk, now).await?;
        db::history(&*tx, tenant, &notes, now).await?;
        tx.commit().await?;
        // A waybill drawn late may have been queued for cancellation.
        self.wake.notify_one();
        Ok(out)
    }

    /// Cancels shipment `id`'s waybill (by hand, e.g. to draw from another carrier): the
    /// shipment is pending again and the number is given back to Courier.
    pub async fn cancel_waybill(&self, tenant: TenantId, id: Uuid) -> Result<Shipment, Error> {
        let now = self.clock.now();
        let tx = self.db.tenant(tenant.0).write_named("shipping").await?;
        let mut s = db::load(&*tx, tenant, &[id], true).await?.pop().ok_or(Error::NotFound)?;
        if s.status.has_left() {
            return Err(Error::Conflict("the shipment has already left: its waybill is in use".into()));
        }
        let Some(w) = s.waybill.take() else {
            // Nothing drawn (or already cancelled): the same answer again.
            tx.commit().await?;
            return Ok(s);
        };
        db::queue_cancel(&*tx, tenant, id, &w, "cancelled by the seller", now).await?;
        if matches!(s.status, Status::WaybillAllocated | Status::Printed) {
            s.status = Status::Pending;
        }
        s.updated_at = now;
        db::save_shipments(&*tx, tenant, &[&s]).await?;
        db::history(&*tx, tenant, &[(id, format!("Waybill {} {} cancelled by the seller", w.cp_code, w.code))], now)
            .await?;
        tx.commit().await?;
        // Given back at once when Courier answers (else the queue retries it).
        self.previous_waybill_pending(tenant, id).await?;
        Ok(s)
    }

    // ---- shipping ----

    /// Marks the tenant's shipments `ids` shipped (what a scan-to-ship station calls): each
    /// emits `shipment.shipped`, from which orders writes each trade back and inventory commits
    /// exactly the shipped lines. Shipments already shipped answer `already_shipped`.
    pub async fn ship(&self, tenant: TenantId, ids: &[Uuid]) -> Result<Vec<ItemResult>, Error> {
        let ids = distinct(ids)?;
        let now = self.clock.now();
        let tx = self.db.tenant(tenant.0).write_named("shipping").await?;
        let mut desk = self.desk_for(&*tx, tenant, &ids).await?;
        let mut out = Vec::new();
        let mut events = Vec::new();
        let mut notes = Vec::new();
        for id in &ids {
            let Some(s) = desk.shipments.get(id) else {
                out.push(ItemResult::new(*id, "not_found", None, None));
                continue;
            };
            let waybill = s.waybill.clone();
            let warehouse = s.warehouse_code.clone();
            match desk.ship(*id, now) {
                Ok(orders) => {
                    let w = waybill.expect("a shipment ships only with a waybill");
                    events.push(Envelope::new(
                        tenant,
                        &ShipmentShipped {
                            shipment_id: *id,
                            cp_code: w.cp_code.clone(),
                            waybill_code: w.code.clone(),
                            warehouse_code: warehouse,
                            orders: orders
                                .into_iter()
                                .map(|(o, lines)| ShippedOrder {
                                    order_id: o.order_id,
                                    channel_id: o.channel_id,
                                    external_id: o.external_id,
                                    completed_line_ids: lines,
                                })
                                .collect(),
                            shipped_at: now,
                        },
                        now,
                        None,
                    ));
                    notes.push((*id, format!("Shipped with {} {}", w.cp_code, w.code)));
                    out.push(ItemResult::new(*id, "shipped", Some(w.code), None));
                }
                Err(PlanError::AlreadyShipped) => {
                    out.push(ItemResult::new(*id, "already_shipped", waybill.map(|w| w.code), None));
                }
                Err(e) => out.push(ItemResult::new(*id, "failed", waybill.map(|w| w.code), Some(e.to_string()))),
            }
        }
        save_desk(&*tx, tenant, &mut desk, now).await?;
        db::history(&*tx, tenant, &notes, now).await?;
        bus::outbox::enqueue(&*tx, &events).await?;
        tx.commit().await?;
        Ok(out)
    }

    // ---- accounts and rules ----

    /// Connects a carrier account after checking it with Courier (the credentials must list
    /// that branch) and registering the account's tracking URL. The same branch again updates
    /// its credentials and sender (`false`: it existed).
    pub async fn connect(&self, tenant: TenantId, new: NewAccount) -> Result<(shipping_accounts::Model, bool), Error> {
        let listed = self.courier.accounts(&new.creds).await.map_err(|e| match e {
            CallError::Refused { code, message, .. } => {
                Error::Invalid(format!("Courier refused these credentials: {code}: {message}"))
            }
            CallError::Unavailable(m) => Error::Courier(format!("Courier did not answer: {m}")),
        })?;
        let Some(found) = listed.iter().find(|a| a.cp_code == new.cp_code && a.branch_code == new.branch_code) else {
            return Err(Error::UnknownReference(format!(
                "Courier lists no account {} {} for these credentials (it lists: {})",
                new.cp_code,
                new.branch_code,
                listed.iter().map(|a| format!("{} {}", a.cp_code, a.branch_code)).collect::<Vec<_>>().join(", ")
            )));
        };
        let existing = shipping_accounts::Entity::find()
            .filter(shipping_accounts::Column::TenantId.eq(tenant.0))
            .filter(shipping_accounts::Column::CpCode.eq(new.cp_code.clone()))
            .filter(shipping_accounts::Column::BranchCode.eq(new.branch_code.clone()))
            .one(self.db.tenant(tenant.0).conn())
            .await?;
        let id = existing.as_ref().map_or_else(kernel::new_id, |a| a.id);
        let secret = existing.as_ref().map_or_else(new_secret, |a| a.tracking_secret.clone());
        let url = format!("{}/v1/webhooks/courier/{id}", self.public_url.trim_end_matches('/'));
        self.courier
            .subscribe(&new.creds, &new.cp_code, &new.branch_code, &url, &secret)
            .await
            .map_err(|e| Error::Courier(format!("Courier did not take the tracking URL: {e}")))?;
        let now = self.clock.now();
        let row = shipping_accounts::Model {
            tenant_id: tenant.0,
            id,
            cp_code: new.cp_code,
            branch_code: new.branch_code,
            branch_name: found.branch_name.clone(),
            api_url: new.creds.api_url.trim_end_matches('/').to_owned(),
            app_key: new.creds.app_key,
            app_secret: new.creds.app_secret,
            access_token: new.creds.access_token,
            tracking_secret: secret,
            sender: serde_json::to_string(&new.sender).expect("JSON"),
            quantity: found.quantity,
            allocated: found.allocated,
            cancelled: found.cancelled,
            printed: found.printed,
            balance_at: Some(now),
            created_at: existing.as_ref().map_or(now, |a| a.created_at),
        };
        let tx = self.db.tenant(tenant.0).write_named("shipping").await?;
        use shipping_accounts::Column as C;
        shipping_accounts::Entity::insert(shipping_accounts::ActiveModel::from(row.clone()))
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([C::TenantId, C::Id])
                    .update_columns([
                        C::BranchName,
                        C::ApiUrl,
                        C::AppKey,
                        C::AppSecret,
                        C::AccessToken,
                        C::Sender,
                        C::Quantity,
                        C::Allocated,
                        C::Cancelled,
                        C::Printed,
                        C::BalanceAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&*tx)
            .await?;
        tx.commit().await?;
        Ok((row, existing.is_none()))
    }

    /// The tenant's accounts with balances asked of Courier now (an account Courier does not
    /// answer for keeps its last known balance and says when that was).
    pub async fn accounts(&self, tenant: TenantId) -> Result<Vec<shipping_accounts::Model>, Error> {
        let mut list = db::accounts(self.db.tenant(tenant.0).conn(), tenant).await?;
        let now = self.clock.now();
        let asked: Vec<Option<Vec<courier::Account>>> = futures_util::future::join_all(
            list.iter().map(|a| async { self.courier.accounts(&credentials(a)).await.ok() }),
        )
        .await;
        let mut fresh = Vec::new();
        for (a, listed) in list.iter_mut().zip(asked) {
            let Some(found) =
                listed.and_then(|l| l.into_iter().find(|x| x.cp_code == a.cp_code && x.branch_code == a.branch_code))
            else {
                continue;
            };
            (a.quantity, a.allocated, a.cancelled, a.printed, a.balance_at) =
                (found.quantity, found.allocated, found.cancelled, found.printed, Some(now));
            fresh.push(a.clone());
        }
        if !fresh.is_empty() {
            let tx = self.db.tenant(tenant.0).write_named("shipping").await?;
            for a in fresh {
                shipping_accounts::Entity::update(shipping_accounts::ActiveModel {
                    tenant_id: Set(a.tenant_id),
                    id: Set(a.id),
                    quantity: Set(a.quantity),
                    allocated: Set(a.allocated),
                    cancelled: Set(a.cancelled),
                    printed: Set(a.printed),
                    balance_at: Set(a.balance_at),
                    ..Default::default()
                })
                .exec(&*tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(list)
    }

    /// Replaces the tenant's settings and carrier rules (every account they name must be the
    /// tenant's).
    pub async fn set_rules(&self, tenant: TenantId, settings: Settings, rules: Rules) -> Result<(), Error> {
        rules.validate().map_err(Error::Invalid)?;
        if !(0..=crate::domain::MAX_MERGE_WAIT_SECONDS).contains(&settings.merge_wait_seconds) {
            return Err(Error::Invalid(format!(
                "merge_wait_seconds must be 0-{} (0 turns merging off)",
                crate::domain::MAX_MERGE_WAIT_SECONDS
            )));
        }
        if !(1..=100_000).contains(&settings.unit_weight_grams) {
            return Err(Error::Invalid("unit_weight_grams must be 1-100000".into()));
        }
        let tx = self.db.tenant(tenant.0).write_named("shipping").await?;
        let known: Vec<Uuid> = db::accounts(&*tx, tenant).await?.into_iter().map(|a| a.id).collect();
        if let Some(a) = rules.accounts().into_iter().find(|a| !known.contains(a)) {
            return Err(Error::UnknownReference(format!("no carrier account {a}")));
        }
        db::save_settings(&*tx, tenant, &settings, &rules, self.clock.now()).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The package Courier is asked to draw for `s`.
pub fn package(s: &Shipment, settings: &Settings) -> courier::Package {
    let mut items: BTreeMap<&str, i64> = BTreeMap::new();
    for l in &s.lines {
        *items.entry(l.title.as_str()).or_default() += l.quantity;
    }
    courier::Package {
        object_id: s.id.to_string(),
        recipient: courier::Address {
            name: s.receiver.name.clone(),
            phone: s.receiver.phone.clone(),
            province: s.receiver.province.clone(),
            city: s.receiver.city.clone(),
            district: s.receiver.district.clone(),
            address: s.receiver.address.clone(),
        },
        items: items.into_iter().map(|(name, count)| courier::Item { name: name.to_owned(), count }).collect(),
        weight_grams: rules::weight_of(s, settings),
        parcels: s.parcels,
        trade_ids: s.trade_ids(),
    }
}

/// `ids` without repeats, in order; at most [`MAX_IDS`].
fn distinct(ids: &[Uuid]) -> Result<Vec<Uuid>, Error> {
    if ids.is_empty() {
        return Err(Error::Invalid("name at least one shipment".into()));
    }
    if ids.len() > MAX_IDS {
        return Err(Error::Invalid(format!("at most {MAX_IDS} shipments per request")));
    }
    let mut seen = std::collections::HashSet::new();
    Ok(ids.iter().copied().filter(|id| seen.insert(*id)).collect())
}
