//! Courier, the carrier network (COURIER.md and the protocol extension), played beside Bazaar:
//! sellers with accounts at carriers' branches, waybill draws with realistic codes and routing,
//! collection (by the admin, or after a Bazaar ship write-back names the waybill), tracking on
//! a compressible schedule, and signed tracking pushes with retries and chaos.
//!
//! The pure parts live in `crate::domain::courier`; this module holds the state
//! ([`book`]), the HTTP API (`/courier/v1`, [`api`]), the admin routes (`/admin/courier`),
//! the push dispatcher and the clock that fires scheduled moves, and the `Sim` methods.

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod book;
pub mod model;
pub(crate) mod push;

use crate::api::ApiGuard;
use crate::config::{CourierChaos, CourierSchedule, SimConfig, Unreachable};
use crate::domain::courier::{Carrier, CourierError, TrackingStatus};
use crate::store::now_ms;
use crate::webhook::Endpoint;
use crate::{CourierStats, Sim};
use book::Push;
use model::{
    CourierAccount, CourierAccountUpdate, CourierSeller, DrawRequest, DrawResult, NewCourierSeller, PushFilter,
    PushRecord, TrackingSubscription, WaybillFilter, WaybillView,
};
use push::Pusher;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

#[derive(Default)]
pub(crate) struct Counters {
    pub packages_drawn: AtomicU64,
    pub packages_repeated: AtomicU64,
    pub packages_failed: AtomicU64,
    pub cancels: AtomicU64,
    pub draw_failures_injected: AtomicU64,
    pub draw_timeouts_injected: AtomicU64,
    pub draw_slow_injected: AtomicU64,
}

/// Courier's running parts (its state is in `State::courier`).
pub(crate) struct Courier {
    pub api: ApiGuard,
    pub push: Arc<Pusher>,
    chaos: Arc<RwLock<CourierChaos>>,
    schedule: RwLock<CourierSchedule>,
    /// Wakes the clock when a timer may have come earlier.
    clock: Notify,
    pub counters: Counters,
}

impl Courier {
    pub fn new(config: &SimConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<Courier> {
        config.courier_chaos.validate().map_err(anyhow::Error::msg)?;
        config.courier_schedule.validate().map_err(anyhow::Error::msg)?;
        let chaos = Arc::new(RwLock::new(config.courier_chaos.clone()));
        Ok(Courier {
            api: ApiGuard::new(config.api_rate),
            push: Arc::new(Pusher::new(config, Arc::clone(&chaos), shutdown)?),
            chaos,
            schedule: RwLock::new(config.courier_schedule.clone()),
            clock: Notify::new(),
            counters: Counters::default(),
        })
    }

    /// Points the dispatcher at every subscription a seller has.
    pub fn set_endpoints(&self, seller: &CourierSeller) {
        for s in &seller.subscriptions {
            self.push.set_endpoint(
                book::account_key(&seller.seller_id, s.cp_code, &s.branch_code),
                Endpoint { url: s.url.clone(), secret: s.secret.clone() },
            );
        }
    }
}

impl Sim {
    fn courier(&self) -> &Courier {
        &self.inner.courier
    }

    fn push_all(&self, pushes: Vec<Push>) {
        for p in pushes {
            self.courier().push.publish(p);
        }
    }

    /// Fires scheduled collections and parcel moves as they come due, until shutdown.
    pub(crate) async fn run_courier_clock(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let now = now_ms();
            let schedule = self.courier_schedule();
            let (pushes, next) = {
                let mut st = self.state();
                let pushes = st.courier.run_due(now, &schedule);
                (pushes, st.courier.next_due())
            };
            self.push_all(pushes);
            let wait =
                next.map_or(Duration::from_secs(3600), |due| Duration::from_millis((due - now_ms()).max(0) as u64));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.courier().clock.notified() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    /// A ship write-back (or a console shipment) named `waybill_no`: if it is a live Courier
    /// waybill, its carrier collects it `collect_delay_ms` from now.
    pub(crate) fn courier_shipped(&self, waybill_no: &str) {
        let delay = self.courier_schedule().delay_ms(TrackingStatus::Collected);
        if self.state().courier.schedule_collection(waybill_no.trim(), now_ms(), delay) {
            self.courier().clock.notify_one();
        }
    }

    /// Draws without the HTTP chaos, counting the outcomes.
    pub(crate) fn draw(
        &self,
        seller_id: &str,
        req: DrawRequest,
        unreachable: &[Unreachable],
    ) -> Result<Vec<DrawResult>, CourierError> {
        let (results, [drawn, repeated, failed]) = self.state().courier.draw(seller_id, req, unreachable, now_ms())?;
        let c = &self.courier().counters;
        c.packages_drawn.fetch_add(drawn, Relaxed);
        c.packages_repeated.fetch_add(repeated, Relaxed);
        c.packages_failed.fetch_add(failed, Relaxed);
        Ok(results)
    }

    /// Runs a tracking change, pushes its events and wakes the clock for the new timers.
    fn tracked(
        &self,
        f: impl FnOnce(&mut book::CourierBook, &CourierSchedule) -> Result<(WaybillView, Vec<Push>), CourierError>,
    ) -> Result<WaybillView, CourierError> {
        let schedule = self.courier_schedule();
        let (view, pushes) = f(&mut self.state().courier, &schedule)?;
        self.push_all(pushes);
        self.courier().clock.notify_one();
        Ok(view)
    }

    // ---- sellers and accounts ---------------------------------------------------------------

    /// Creates a Courier seller (fields left out are generated; no accounts: a ZTO branch with
    /// 1000 numbers and an SF monthly account). Its token signs with [`Sim::app_key`].
    pub async fn create_courier_seller(&self, spec: NewCourierSeller) -> Result<CourierSeller, CourierError> {
        self.state().courier.create_seller(spec)
    }

    pub async fn courier_seller(&self, seller_id: &str) -> Option<CourierSeller> {
        self.state().courier.seller(seller_id).cloned()
    }

    pub async fn courier_sellers(&self) -> Vec<CourierSeller> {
        self.state().courier.sellers()
    }

    /// Sets the numbers left at a franchise branch (0 makes every draw there fail with
    /// `courier.insufficient-balance`).
    pub async fn set_courier_balance(
        &self,
        seller_id: &str,
        cp_code: Carrier,
        branch_code: &str,
        quantity: i64,
    ) -> Result<CourierAccount, CourierError> {
        let update = CourierAccountUpdate { quantity: Some(quantity), printed: None };
        self.update_courier_account(seller_id, cp_code, branch_code, update).await
    }

    /// Sets a franchise branch's balance and/or an account's printed counter.
    pub async fn update_courier_account(
        &self,
        seller_id: &str,
        cp_code: Carrier,
        branch_code: &str,
        update: CourierAccountUpdate,
    ) -> Result<CourierAccount, CourierError> {
        self.state().courier.update_account(seller_id, cp_code, branch_code, update)
    }

    /// Registers (or replaces) where an account's tracking events are pushed, as
    /// `PUT /courier/v1/tracking-subscription` does.
    pub async fn subscribe_courier_tracking(
        &self,
        seller_id: &str,
        cp_code: Carrier,
        branch_code: &str,
        url: &str,
        secret: &str,
    ) -> Result<TrackingSubscription, CourierError> {
        let sub = self.state().courier.subscribe(seller_id, cp_code, branch_code, url, secret)?;
        self.courier().push.set_endpoint(
            book::account_key(seller_id, cp_code, branch_code),
            Endpoint { url: sub.url.clone(), secret: sub.secret.clone() },
        );
        Ok(sub)
    }

    // ---- waybills ---------------------------------------------------------------------------

    /// Draws waybills for a seller as `POST /courier/v1/waybills` does (without the draw
    /// chaos, with the unreachable pairs).
    pub async fn draw_waybills(&self, seller_id: &str, req: DrawRequest) -> Result<Vec<DrawResult>, CourierError> {
        let unreachable = self.courier_chaos().unreachable;
        self.draw(seller_id, req, &unreachable)
    }

    /// Cancels a package by its code, as the seller would.
    pub async fn cancel_waybill(&self, code: &str) -> Result<WaybillView, CourierError> {
        let view = self.state().courier.cancel(code, None, now_ms())?;
        self.courier().counters.cancels.fetch_add(1, Relaxed);
        Ok(view)
    }

    /// A waybill by any of its parcels' codes.
    pub async fn courier_waybill(&self, code: &str) -> Option<WaybillView> {
        self.state().courier.view(code, None).ok()
    }

    /// Waybills matching the filter, oldest first.
    pub async fn courier_waybills(&self, filter: &WaybillFilter) -> Vec<WaybillView> {
        self.state().courier.waybills(filter)
    }

    /// The carrier collects the package of `code` now (every parcel `COLLECTED`, pushed), and
    /// its parcels start their schedule. 409 `courier.already-collected` / `-cancelled`.
    pub async fn collect_waybill(&self, code: &str) -> Result<WaybillView, CourierError> {
        self.tracked(|b, s| b.collect(code, now_ms(), s))
    }

    /// The parcel `code` takes its next scheduled step now (an uncollected package is
    /// collected).
    pub async fn advance_tracking(&self, code: &str) -> Result<WaybillView, CourierError> {
        self.tracked(|b, s| b.advance(code, now_ms(), s))
    }

    /// The parcel `code` moves to `status` now through every status on the way (one push each),
    /// e.g. `RETURNED` through `IN_TRANSIT`, `DELIVERING`, `EXCEPTION`, `RETURNING`. 409
    /// `courier.invalid-status` when it is there already or past it.
    pub async fn force_tracking(&self, code: &str, status: TrackingStatus) -> Result<WaybillView, CourierError> {
        self.tracked(|b, s| b.force(code, status, now_ms(), s))
    }

    // ---- knobs ------------------------------------------------------------------------------

    pub fn courier_chaos(&self) -> CourierChaos {
        self.courier().chaos.read().expect("courier chaos lock").clone()
    }

    /// Replaces Courier's chaos knobs; applies to calls made and pushes created from now on.
    pub fn set_courier_chaos(&self, chaos: CourierChaos) -> Result<(), CourierError> {
        chaos.validate().map_err(CourierError::InvalidRequest)?;
        *self.courier().chaos.write().expect("courier chaos lock") = chaos;
        Ok(())
    }

    pub fn courier_schedule(&self) -> CourierSchedule {
        self.courier().schedule.read().expect("courier schedule lock").clone()
    }

    /// Replaces the tracking schedule; applies to collections and moves scheduled from now on.
    pub fn set_courier_schedule(&self, schedule: CourierSchedule) -> Result<(), CourierError> {
        schedule.validate().map_err(CourierError::InvalidRequest)?;
        *self.courier().schedule.write().expect("courier schedule lock") = schedule;
        Ok(())
    }

    /// Every tracking endpoint is "down" for `length` from now (attempts fail and are retried
    /// on the normal schedule). Zero ends an outage.
    pub fn set_tracking_outage(&self, length: Duration) {
        self.courier().push.set_outage(Instant::now(), length);
    }

    pub fn tracking_outage_left(&self) -> Option<Duration> {
        self.courier().push.outage_left()
    }

    /// The Courier API answers 503 (`courier.service-unavailable`, with `Retry-After`) for
    /// `length` from now. Zero ends an outage.
    pub fn set_courier_api_outage(&self, length: Duration) {
        self.courier().api.set_outage(Instant::now(), length);
    }

    // ---- observation ------------------------------------------------------------------------

    /// The tracking push log (like [`Sim::messages`] for Bazaar), in creation order.
    pub fn courier_pushes(&self, filter: &PushFilter) -> Vec<PushRecord> {
        self.courier().push.records(filter)
    }

    /// Waits until every tracking push under way was delivered or given up.
    pub async fn wait_courier_pushed(&self, timeout: Duration) -> anyhow::Result<()> {
        if self.courier().push.wait_idle(timeout).await {
            Ok(())
        } else {
            anyhow::bail!("{} tracking pushes still pending after {timeout:?}", self.courier().push.pending())
        }
    }

    /// Courier's counters.
    pub fn courier_stats(&self) -> CourierStats {
        let mut s = CourierStats::default();
        {
            let st = self.state();
            s.sellers = st.courier.sellers().len();
            s.waybills = st.courier.waybill_count();
        }
        let (api, c) = (&self.courier().api, &self.courier().counters);
        s.api_calls = api.calls.load(Relaxed);
        s.api_auth_failures = api.auth_failures.load(Relaxed);
        s.api_rate_limited = api.rate_limited.load(Relaxed);
        s.api_unavailable = api.unavailable.load(Relaxed);
        s.packages_drawn = c.packages_drawn.load(Relaxed);
        s.packages_repeated = c.packages_repeated.load(Relaxed);
        s.packages_failed = c.packages_failed.load(Relaxed);
        s.cancels = c.cancels.load(Relaxed);
        s.draw_failures_injected = c.draw_failures_injected.load(Relaxed);
        s.draw_timeouts_injected = c.draw_timeouts_injected.load(Relaxed);
        s.draw_slow_injected = c.draw_slow_injected.load(Relaxed);
        self.courier().push.fill_stats(&mut s);
        s
    }
}
