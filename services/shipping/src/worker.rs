//! Background work: giving cancelled waybills back to Courier (with retries), and rendering
//! label batches. Both work from the database, so nothing is lost across a restart, and both
//! are safe to run in several instances (a cancel Courier already did answers
//! `courier.already-cancelled`; a batch rendered twice gives the same PDF).

use crate::{
    courier::CallError,
    db::{self, shipment_waybills},
    service::{Shipping, credentials},
};
use kernel::TenantId;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::time::Duration;

/// Waybills given back per round.
const CANCELS_PER_ROUND: u64 = 50;

/// Gives back the waybills queued for cancellation whose time has come; returns how many it
/// settled (cancelled or refused for good). They are found across tenants (the system scope)
/// and each is given back in its tenant's.
pub async fn cancel_round(svc: &Shipping) -> Result<usize, sea_orm::DbErr> {
    let now = svc.clock.now();
    let due = shipment_waybills::Entity::find()
        .filter(shipment_waybills::Column::State.eq("cancelling"))
        .filter(shipment_waybills::Column::NextAttemptAt.lte(now))
        .order_by_asc(shipment_waybills::Column::NextAttemptAt)
        .limit(CANCELS_PER_ROUND)
        .all(svc.db.system().conn())
        .await?;
    let mut settled = 0;
    for w in due {
        if cancel_one(svc, w).await? {
            settled += 1;
        }
    }
    Ok(settled)
}

/// Gives one queued waybill back to Courier and records the answer; `true` when it is
/// settled (cancelled, or refused for good), `false` when Courier did not answer (retried later
/// with backoff).
pub async fn cancel_one(svc: &Shipping, w: shipment_waybills::Model) -> Result<bool, sea_orm::DbErr> {
    let tenant = TenantId(w.tenant_id);
    let db = svc.db.tenant(tenant.0);
    let Some(account) = db::account(db.conn(), tenant, w.account_id).await? else { return Ok(false) };
    let answer = svc.courier.cancel(&credentials(&account), &w.code).await;
    let now = svc.clock.now();
    let (state, detail, next, note) = match answer {
        Ok(()) => {
            ("cancelled", w.detail.clone(), None, format!("Waybill {} {} cancelled at the carrier", w.cp_code, w.code))
        }
        Err(CallError::Refused { code, .. }) if code == "courier.already-cancelled" => {
            ("cancelled", w.detail.clone(), None, format!("Waybill {} {} was already cancelled", w.cp_code, w.code))
        }
        Err(CallError::Refused { code, message, .. }) => (
            "cancel_failed",
            Some(format!("{code}: {message}")),
            None,
            format!(
                "Waybill {} {} could not be cancelled ({code}: {message}); if the parcel was collected, stop it with the carrier",
                w.cp_code, w.code
            ),
        ),
        Err(CallError::Unavailable(m)) => {
            let wait = 2i64.pow((w.attempts as u32).min(8)).min(300);
            (
                "cancelling",
                Some(format!("Courier did not answer: {m}")),
                Some(now + chrono::Duration::seconds(wait)),
                String::new(),
            )
        }
    };
    let tx = db.write_named("shipping cancels").await?;
    shipment_waybills::Entity::update(shipment_waybills::ActiveModel {
        tenant_id: Set(w.tenant_id),
        code: Set(w.code.clone()),
        state: Set(state.into()),
        detail: Set(detail),
        attempts: Set(w.attempts + 1),
        next_attempt_at: Set(next),
        cancelled_at: Set((state == "cancelled").then_some(now)),
        ..Default::default()
    })
    .exec(&*tx)
    .await?;
    let settled = !note.is_empty();
    if settled {
        db::history(&*tx, tenant, &[(w.shipment_id, note)], now).await?;
    }
    tx.commit().await?;
    Ok(settled)
}

/// How often the worker looks for work it was not woken for (another instance's, retries).
const POLL: Duration = Duration::from_secs(1);

/// Runs the cancel queue and the label batches until `stop`: woken by this process's service
/// when it queues work, else every [`POLL`].
pub async fn run(svc: Shipping, renderer: std::sync::Arc<shipping_labels::Renderer>, mut stop: bus::Shutdown) {
    loop {
        if *stop.borrow() {
            return;
        }
        let mut busy = false;
        match cancel_round(&svc).await {
            Ok(n) => busy |= n > 0,
            Err(e) => tracing::error!(error = %e, "shipping: the waybill cancel round failed"),
        }
        match svc.render_next_batch(&renderer).await {
            Ok(did) => busy |= did,
            Err(e) => tracing::error!(error = %e, "shipping: rendering a label batch failed"),
        }
        if busy {
            continue;
        }
        tokio::select! {
            _ = svc.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => {}
        }
    }
}
