//! The Courier API (Cairn → Courier, `/courier/v1`): COURIER.md's four calls plus the tracking
//! subscription of the protocol extension, signed exactly like Bazaar's Open API (the
//! simulator's one app, the seller's bearer token, 10 minutes of clock skew) and verified by
//! the same code (`crate::api::verify_signed`) with Courier's error codes.
//!
//! Order of checks: Courier API outage (503 `courier.service-unavailable`) → signature,
//! timestamp and token (401 `courier.invalid-signature` / `courier.unauthorized`) → rate limit
//! per seller (429 `courier.rate-limited` with `Retry-After`) → the call. A draw then meets the
//! draw chaos: a 500 (`courier.internal-error`) without drawing, latency, and after drawing a
//! 500 anyway or no answer for `draw_timeout_ms` and then 504 (`courier.timeout`).

use super::model::{CourierSeller, DrawRequest};
use crate::Sim;
use crate::api::{ApiError, Dialect, Principal, verify_signed};
use crate::domain::courier::{Carrier, CourierError};
use crate::store::now_ms;
use poem::http::StatusCode;
use poem::web::{Data, Json, Path};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler, post, put};
use rand::RngExt;
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

const COURIER: Dialect = Dialect {
    invalid_signature: "courier.invalid-signature",
    invalid_token: "courier.unauthorized",
    // An app the platform does not know cannot have signed the call.
    invalid_app_key: "courier.invalid-signature",
    rate_limited: "courier.rate-limited",
    invalid_parameter: "courier.invalid-request",
    holder: "seller",
};

impl From<CourierError> for ApiError {
    fn from(e: CourierError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError::new(status, e.code(), e.to_string())
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    CourierError::InvalidRequest(message.into()).into()
}

/// The Courier routes, to nest under `/courier/v1`.
pub(crate) fn routes(sim: Sim) -> impl Endpoint {
    Route::new()
        .at("/accounts", get(accounts))
        .at("/waybills", post(draw))
        .at("/waybills/:code", get(waybill))
        .at("/waybills/:code/cancel", post(cancel))
        .at("/tracking-subscription", put(subscribe))
        .data(sim)
}

/// The outage window, then the signed-call checks; the calling seller.
fn authenticate(sim: &Sim, req: &Request, body: &[u8]) -> Result<CourierSeller, ApiError> {
    let guard = &sim.inner.courier.api;
    guard.calls.fetch_add(1, Relaxed);
    if let Some(left) = guard.outage_left() {
        guard.unavailable.fetch_add(1, Relaxed);
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "courier.service-unavailable",
            "the carrier platform is down (simulated)",
        );
        e.retry_after = Some(left.as_secs().max(1));
        return Err(e);
    }
    let (seller, _) = verify_signed(guard, &COURIER, req, body, |token| {
        let seller = sim.state().courier.seller_by_token(token).cloned()?;
        let who = Principal {
            id: seller.seller_id.clone(),
            app_key: sim.app_key().to_owned(),
            app_secret: sim.app_secret().to_owned(),
        };
        Some((seller, who))
    })?;
    Ok(seller)
}

/// `GET /courier/v1/accounts` → `{"accounts": [{cp_code, branch_code, branch_name, quantity,
/// allocated, cancelled, printed}]}`.
#[handler]
async fn accounts(req: &Request, body: Vec<u8>, Data(sim): Data<&Sim>) -> Result<Json<serde_json::Value>, ApiError> {
    let seller = authenticate(sim, req, &body)?;
    Ok(Json(json!({ "accounts": seller.accounts })))
}

fn internal() -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "courier.internal-error", "internal error (simulated)")
}

/// `POST /courier/v1/waybills` → `{"results": [...]}`, one per package, in order.
#[handler]
async fn draw(req: &Request, body: Vec<u8>, Data(sim): Data<&Sim>) -> Result<Response, ApiError> {
    let seller = authenticate(sim, req, &body)?;
    let request: DrawRequest = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("body must be {{cp_code, branch_code, sender, packages}}: {e}")))?;
    let chaos = sim.courier_chaos();
    let counters = &sim.inner.courier.counters;
    let (fail, slow, fail_after, timeout_after) = {
        let mut rng = rand::rng();
        (
            rng.random_bool(chaos.draw_fail_rate.clamp(0.0, 1.0)),
            rng.random_bool(chaos.draw_slow_rate.clamp(0.0, 1.0)),
            rng.random_bool(chaos.draw_fail_after_rate.clamp(0.0, 1.0)),
            rng.random_bool(chaos.draw_timeout_after_rate.clamp(0.0, 1.0)),
        )
    };
    if fail {
        counters.draw_failures_injected.fetch_add(1, Relaxed);
        return Err(internal());
    }
    let mut latency = Duration::from_millis(chaos.draw_latency_ms);
    if slow {
        counters.draw_slow_injected.fetch_add(1, Relaxed);
        latency += Duration::from_millis(chaos.draw_slow_ms);
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let results = sim.draw(&seller.seller_id, request, &chaos.unreachable)?;
    if timeout_after {
        counters.draw_timeouts_injected.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_millis(chaos.draw_timeout_ms)).await;
        return Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "courier.timeout",
            "the carrier did not answer in time (simulated; the waybills were drawn)",
        ));
    }
    if fail_after {
        counters.draw_failures_injected.fetch_add(1, Relaxed);
        return Err(internal());
    }
    Ok(Json(json!({ "results": results })).into_response())
}

/// `GET /courier/v1/waybills/{code}` (any parcel's code) → the waybill, its print data,
/// where its parcels are and its tracking so far.
#[handler]
async fn waybill(
    req: &Request,
    Path(code): Path<String>,
    body: Vec<u8>,
    Data(sim): Data<&Sim>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let seller = authenticate(sim, req, &body)?;
    let view = sim.state().courier.view(&code, Some(&seller.seller_id))?;
    Ok(Json(serde_json::to_value(view).expect("a view serialises")))
}

/// `POST /courier/v1/waybills/{code}/cancel` → the waybill, now `CANCELLED`.
#[handler]
async fn cancel(
    req: &Request,
    Path(code): Path<String>,
    body: Vec<u8>,
    Data(sim): Data<&Sim>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let seller = authenticate(sim, req, &body)?;
    let view = sim.state().courier.cancel(&code, Some(&seller.seller_id), now_ms())?;
    sim.inner.courier.counters.cancels.fetch_add(1, Relaxed);
    Ok(Json(serde_json::to_value(view).expect("a view serialises")))
}

#[derive(Deserialize)]
struct Subscription {
    cp_code: String,
    branch_code: String,
    url: String,
    secret: String,
}

/// `PUT /courier/v1/tracking-subscription` `{cp_code, branch_code, url, secret}` →
/// `{cp_code, branch_code, url}`; a new url or secret replaces the old.
#[handler]
async fn subscribe(req: &Request, body: Vec<u8>, Data(sim): Data<&Sim>) -> Result<Json<serde_json::Value>, ApiError> {
    let seller = authenticate(sim, req, &body)?;
    let s: Subscription = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("body must be {{cp_code, branch_code, url, secret}}: {e}")))?;
    let carrier = Carrier::parse(&s.cp_code).ok_or_else(|| CourierError::AccountNotFound {
        cp_code: s.cp_code.clone(),
        branch_code: s.branch_code.clone(),
    })?;
    let sub = sim.subscribe_courier_tracking(&seller.seller_id, carrier, &s.branch_code, &s.url, &s.secret).await?;
    Ok(Json(json!({ "cp_code": sub.cp_code, "branch_code": sub.branch_code, "url": sub.url })))
}
